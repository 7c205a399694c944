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
from operator import itemgetter

from .errors import CorruptArtifactError
from .pack_index import ROW, Row

__all__ = ["rebuilt_index"]


def rebuilt_index(
    rows: list[Row],
    span: tuple[int, int],
    record: Callable[[int], bytes],
    key_of: Callable[[bytes], bytes],
) -> bytes | None:
    """The bytes of a sorted copy of the index ``rows`` whose keys are those the records
    name, or None.

    ``span`` is where the records lie (from the end of the index to the end of the
    file); ``record(row)`` returns a row's checked record (``CorruptArtifactError`` if it
    fails its checksum); ``key_of(record)`` the 16-byte digest of the key it holds.
    """
    if not rows:
        return None
    start, size = span
    end = start
    for _, offset, length, _ in rows:
        if offset != end:
            return None  # a row lost, cut or moved: some record may be unreachable
        end = offset + length
    if end != size:
        return None
    try:
        keys = [key_of(record(row)) for row in range(len(rows))]
    except (CorruptArtifactError, ValueError, TypeError, IndexError, KeyError):
        return None
    if len(set(keys)) != len(rows):
        return None
    rebuilt = sorted(
        ((key, *place) for key, (_, *place) in zip(keys, rows, strict=True)), key=itemgetter(0)
    )
    return b"".join(ROW.pack(*row) for row in rebuilt)
