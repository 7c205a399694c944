"""Planning a dispatch: the missing keys of a cell split into units of work."""

from __future__ import annotations

import typing as tp

__all__ = ["split"]

T = tp.TypeVar("T")


def split(items: tp.Sequence[T], max_parts: int | None, min_size: int = 1) -> list[list[T]]:
    """``items`` in order, as at most ``max_parts`` contiguous parts of at least ``min_size``
    items each (one part if there are fewer), sizes differing by at most one.

    >>> [len(part) for part in split(range(10), max_parts=4)]
    [3, 3, 2, 2]
    >>> [len(part) for part in split(range(10), max_parts=8, min_size=3)]
    [4, 3, 3]
    """
    if not items:
        return []
    count = len(items) // max(min_size, 1)
    if max_parts is not None:
        count = min(count, max_parts)
    count = max(count, 1)
    size, extra = divmod(len(items), count)
    parts, start = [], 0
    for index in range(count):
        stop = start + size + (index < extra)
        parts.append(list(items[start:stop]))
        start = stop
    return parts
