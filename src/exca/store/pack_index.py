"""A pack's key index: its rows, sorted by key digest, and the searches in them.

A row is ``(key digest, offset, length, check)`` (:data:`ROW`, 32 bytes). The searches
use numpy when this process has imported it, and the standard library otherwise:
reading small values never needs numpy, and its import costs a fresh process more than
the whole read of 10,000 values (about 40 ms against 10 ms). A search of a large part of
a large pack imports it (see :data:`NUMPY_ROWS`). Both give the same rows for
every query: ``tests/store/test_pack_index.py`` runs both on the same packs; whoever
changes one search changes the other with it.
"""

from __future__ import annotations

import bisect
import mmap
import struct
import sys
from array import array
from collections.abc import Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    import numpy as np

__all__ = ["PackIndex", "ROW", "Row", "Hits"]

ROW = struct.Struct("<16sQII")
_KEY = struct.Struct("<16s16x")  # a row's key digest alone
Row = tuple[bytes, int, int, int]
#: positions in the query of the digests found, and each one's offset, length and check
Hits = tuple[list[int], list[int], list[int], list[int]]
_DENSE_QUERY = 16  # a search of over 1/16 of the keys reads the whole index once
#: a dense search of a pack of more rows imports numpy: the standard library's costs
#: about 1 µs a row more (100 ms at 100,000 rows), more than numpy's import
NUMPY_ROWS = 65_536


def _take(column: array[int], rows: list[int]) -> list[int]:
    """``column[row]`` for each of ``rows`` (one C-level call)."""
    return list(itemgetter(*rows)(column)) if len(rows) > 1 else [column[rows[0]]]


def _no_hits() -> Hits:
    return [], [], [], []  # (new lists: a caller may keep them)


class PackIndex:
    """``count`` rows of ``buffer`` from byte ``start`` (a mapped pack file, or a rebuilt
    index in memory); read only."""

    __slots__ = ("_buffer", "_start", "count", "_keys", "_high")

    def __init__(self, buffer: mmap.mmap | bytes, start: int, count: int) -> None:
        self._buffer = buffer
        self._start = start
        self.count = count
        self._keys: np.ndarray | None = None  # numpy's view of the key column
        self._high: np.ndarray | None = None  # built by the first dense numpy search

    def row(self, position: int) -> Row:
        return ROW.unpack_from(self._buffer, self._start + ROW.size * position)

    def rows(self) -> list[Row]:
        """Every row, in key order."""
        view = memoryview(self._buffer)[self._start : self._start + ROW.size * self.count]
        return list(ROW.iter_unpack(view))

    def find(self, digest: bytes) -> Row | None:
        """The row of ``digest`` (16 bytes), or None."""
        if "numpy" in sys.modules:
            return self.find_with_numpy(digest)
        return self.find_without_numpy(digest)

    def find_without_numpy(self, digest: bytes) -> Row | None:
        """:meth:`find` by a binary search of the buffer."""
        return self._row_if(bisect.bisect_left(_KeyColumn(self), digest), digest)

    def find_with_numpy(self, digest: bytes) -> Row | None:
        """:meth:`find` by numpy (a few µs faster once numpy is loaded)."""
        return self._row_if(int(self.numpy_keys().searchsorted(digest)), digest)

    def _row_if(self, position: int, digest: bytes) -> Row | None:
        """The row at ``position`` if it holds ``digest``."""
        if position >= self.count:
            return None
        row = self.row(position)
        return row if row[0] == digest else None

    def find_many(self, digests: Sequence[bytes]) -> Hits:
        """The rows of those of ``digests`` found, with their positions (increasing)."""
        dense = len(digests) * _DENSE_QUERY >= self.count
        if "numpy" in sys.modules or (dense and self.count > NUMPY_ROWS):
            return self.find_many_with_numpy(digests)
        return self.find_many_without_numpy(digests)

    def find_many_without_numpy(self, digests: Sequence[bytes]) -> Hits:
        """:meth:`find_many` by the standard library: a binary search per digest for a
        sparse query, else :meth:`_find_dense` (its cost is then proportional to the
        query)."""
        if not self.count or not digests:
            return _no_hits()
        if len(digests) * _DENSE_QUERY >= self.count:
            return self._find_dense(digests)
        found = list(map(self.find_without_numpy, digests))
        positions = [p for p, row in enumerate(found) if row is not None]
        hits = [row for row in found if row is not None]
        if not hits:
            return _no_hits()
        _, offsets, lengths, checks = zip(*hits, strict=True)  # (columns, C-level)
        return positions, list(offsets), list(lengths), list(checks)

    def _find_dense(self, digests: Sequence[bytes]) -> Hits:
        """A table of the whole key column, then the columns of the rows found taken from
        the index read as arrays of words: C-level loops, and no Python object for a
        row not found (10,000 row tuples kept alive made the garbage collector run)."""
        view = memoryview(self._buffer)[self._start : self._start + ROW.size * self.count]
        keys = [key for (key,) in _KEY.iter_unpack(view)]
        found = list(map(dict(zip(keys, range(self.count), strict=True)).get, digests))
        if None not in found:  # (the usual case: every one found)
            positions, rows = list(range(len(found))), cast(list[int], found)
        else:
            positions = [p for p, row in enumerate(found) if row is not None]
            rows = [row for row in found if row is not None]
        if not rows:
            return _no_hits()
        words, halves = array("Q"), array("I")  # a row: 4 words, or 8 half words
        words.frombytes(view)
        halves.frombytes(view)
        if sys.byteorder != "little":  # (the index is little-endian)
            words.byteswap()
            halves.byteswap()
        offsets, lengths, checks = words[2::4], halves[6::8], halves[7::8]
        return positions, _take(offsets, rows), _take(lengths, rows), _take(checks, rows)

    def find_many_with_numpy(self, digests: Sequence[bytes]) -> Hits:
        """:meth:`find_many` by numpy: a vectorised binary search."""
        if not self.count or not digests:
            return _no_hits()
        import numpy as np

        query = np.frombuffer(b"".join(digests), dtype="S16")  # 16 bytes each: one row
        rows, hits = self._numpy_rows(query)
        found = np.flatnonzero(hits)
        if not len(found):
            return _no_hits()
        selected = self.numpy_index()[rows[found]]  # one gather, then plain lists
        return (
            found.tolist(),
            selected["offset"].tolist(),
            selected["length"].tolist(),
            selected["check"].tolist(),
        )

    def numpy_index(self) -> np.ndarray:
        """The rows as a numpy structured array (a view of the buffer)."""
        import numpy as np

        dtype = np.dtype([("key", "S16"), ("offset", "<u8"), ("length", "<u4"), ("check", "<u4")])
        return np.frombuffer(self._buffer, dtype=dtype, count=self.count, offset=self._start)

    def numpy_keys(self) -> np.ndarray:
        if self._keys is None:
            self._keys = self.numpy_index()["key"]
        return self._keys

    def _numpy_rows(self, digests: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each digest, the row holding it if any; and whether it does."""
        import numpy as np

        keys, last = self.numpy_keys(), self.count - 1
        if self._high is None and len(digests) * _DENSE_QUERY < self.count:
            # a few keys in a large pack: search the whole keys (building the integer
            # column would read the whole index)
            rows = np.minimum(keys.searchsorted(digests), last)
            return rows, keys[rows] == digests
        if self._high is None:
            # the first 8 bytes of each key as a native integer: searching those is
            # twice as fast as comparing 16-byte strings
            self._high = np.ndarray(
                (self.count,), ">u8", self.numpy_index(), 0, (ROW.size,)
            ).astype("<u8")
        wanted = np.ndarray((len(digests),), ">u8", digests, 0, (16,)).astype("<u8")
        rows = np.minimum(self._high.searchsorted(wanted), last)
        hits = keys[rows] == digests
        # keys sharing their first 8 bytes (very rare): search those on the whole key
        shared = ~hits & (self._high[rows] == wanted)
        if shared.any():
            rows[shared] = np.minimum(keys.searchsorted(digests[shared]), last)
            hits = keys[rows] == digests
        return rows, hits


class _KeyColumn:
    """The key digests of an index as a sequence, read on demand (for ``bisect``)."""

    __slots__ = ("_buffer", "_start", "_count")

    def __init__(self, index: PackIndex) -> None:
        self._buffer, self._start, self._count = index._buffer, index._start, index.count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, position: int) -> bytes:
        at = self._start + ROW.size * position
        return self._buffer[at : at + 16]
