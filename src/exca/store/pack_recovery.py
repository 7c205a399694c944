"""Rebuilding a damaged pack's key index from the records it points to.

A flipped byte in a pack's header or key column leaves its records whole; each record
names its own key. When every row still points at a record that passes its checksum,
the rows are contiguous from the end of the index to the end of the file (so none is
missing), and the records name distinct keys, the key column is rebuilt from them and
the pack serves and proves misses again. Anything less is left damaged: its misses
prove nothing (see :meth:`.packs.Pack.misses_prove`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import CorruptArtifactError

__all__ = ["rebuilt_index"]


def rebuilt_index(
    index: np.ndarray,
    span: tuple[int, int],
    record: Callable[[int], bytes],
    key_of: Callable[[bytes], bytes],
) -> np.ndarray | None:
    """A sorted copy of ``index`` whose keys are those the records name, or None.

    ``span`` is where the records lie (from the end of the index to the end of the
    file); ``record(row)`` returns a row's checked record (``CorruptArtifactError`` if it
    fails its checksum); ``key_of(record)`` the 16-byte digest of the key it holds.
    """
    count = len(index)
    if not count:
        return None
    offsets = index["offset"].astype(np.int64)
    ends = offsets + index["length"].astype(np.int64)
    start, size = span
    if offsets[0] != start or ends[-1] != size or not np.array_equal(offsets[1:], ends[:-1]):
        return None  # a row lost, cut or moved: some record may be unreachable
    try:
        keys = [key_of(record(row)) for row in range(count)]
    except (CorruptArtifactError, ValueError, TypeError, IndexError, KeyError):
        return None
    if len(set(keys)) != count:
        return None
    rebuilt = index.copy()
    rebuilt["key"] = keys
    return rebuilt[np.argsort(rebuilt["key"], kind="stable")]
