"""Finding many keys through a namespace's layers: its write buffer, its own table,
then each read folder's, the first holding a key answering for it.

A key some layer found damaged is not looked up further down: a lower layer's record
of it may be older than the damaged one, and serving it would be a wrong value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from .entries import Entry
from .entry_map import EntryMap

__all__ = ["Table", "find_through"]


class Table(Protocol):
    """What :func:`find_through` asks of a layer (an ``EntryTable`` or a wrapper)."""

    def find_many(
        self, keys: Sequence[str], damaged: dict[str, str]
    ) -> dict[str, Entry | bytes]: ...


def find_through(
    wanted: list[str],
    buffered: Mapping[str, Entry] | None,
    tables: Sequence[Table],
    where: object,
) -> EntryMap:
    """The entries of ``wanted`` (all str) found in ``buffered`` (this thread's write
    buffer, read with single lookups: a late flush may empty it meanwhile, see
    ``WriteBuffer``) or ``tables``, top first; tombstones are left out."""
    found: dict[str, Entry | bytes] = {}
    damaged: dict[str, str] = {}  # a lower layer does not answer for a damaged key
    if buffered:
        found.update((k, e) for k in wanted if (e := buffered.get(k)) is not None)
    for table in tables:
        missing = (
            [k for k in wanted if k not in found and k not in damaged]
            if found or damaged
            else wanted
        )
        if not missing:
            break
        if found:
            found.update(table.find_many(missing, damaged))
        else:
            found = table.find_many(missing, damaged)
    # undecoded records are no tombstones (the tables decode those that may be)
    if set(map(type, found.values())) - {bytes}:
        found = {k: e for k, e in found.items() if isinstance(e, bytes) or e.status != "deleted"}
    return EntryMap(found, where=where, damaged=damaged)
