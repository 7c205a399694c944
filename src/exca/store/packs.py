"""Pack files: immutable, sorted, memory-mapped bundles of entry records with a key index.

Layout (little-endian)::

    header  32 bytes   magic "EXPK", format u32, record count u64, xxh3-128 of the index
    index   count x 32 key digest (16 bytes, sorted), offset u64, length u32, xxh3-64 low u32
    records            the msgpack entry records, back to back

A pack is named by the digest of its bytes and never rewritten; packing merges loose
entries (and older packs) into a new one. Readers check each record they read against
the checksum beside it in the index and the key it holds against the key wanted, so a
damaged pack gives an error or a miss, never another value; they do not read the whole
index to check its digest (at 100,000 entries, 3.2 MB per pack and process): a lookup
that finds its key stays O(log n) in the pack size. A key found nowhere is checked
against each pack's whole index once per process (see :meth:`Pack.misses_prove`), so a
damaged index never turns a cached key into a silent miss. ``verify`` checks every byte.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Callable, Iterator, Sequence
from itertools import repeat
from operator import add, and_, itemgetter
from pathlib import Path

import xxhash

from .errors import CorruptArtifactError, FormatVersionError
from .pack_index import ROW, PackIndex
from .pack_recovery import rebuilt_index

__all__ = ["Pack", "build_pack", "PACK_FORMAT_VERSION"]

PACK_FORMAT_VERSION = 1
_MAGIC = b"EXPK"
_HEADER = struct.Struct("<4sIQ16s")
_CHECK_MASK = 0xFFFFFFFF  # a record's check is the low 32 bits of its xxh3-64


def _check(record: bytes | memoryview) -> int:
    return xxhash.xxh3_64_intdigest(record) & _CHECK_MASK


def build_pack(records: Sequence[tuple[bytes, bytes]]) -> bytes:
    """Bytes of a pack holding ``(key digest, record)`` pairs (one record per key)."""
    ordered = sorted(records, key=itemgetter(0))
    rows = []
    offset = _HEADER.size + ROW.size * len(ordered)
    for digest, record in ordered:
        rows.append(ROW.pack(digest, offset, len(record), _check(record)))
        offset += len(record)
    index_bytes = b"".join(rows)
    header = _HEADER.pack(
        _MAGIC, PACK_FORMAT_VERSION, len(ordered), xxhash.xxh3_128_digest(index_bytes)
    )
    return b"".join([header, index_bytes, *(record for _, record in ordered)])


class Pack:
    """A read-only view of one pack file.

    A damaged pack still serves what can be checked: each record found is checked on
    read, and ``damage`` (None for a sound pack) says why a key *not* found in it may
    be there all the same (a damaged header, a truncated or altered index): such a miss
    proves nothing, and its reader treats the key as damaged (see :meth:`misses_prove`).
    """

    def __init__(
        self, path: Path, data: mmap.mmap | bytes, index: PackIndex, damage: str | None = None
    ) -> None:
        self.path = path
        self._data = data
        self.index = index  # (the file's rows, or a rebuilt copy in memory)
        self._contains: dict[bytes, bool] = {}
        self.damage = damage
        #: what was found damaged and repaired in memory (the file stays as it is)
        self.repaired: str | None = None
        #: whether :meth:`misses_prove` checked the index yet (it does so once)
        self.index_checked = False
        self._key_of: Callable[[bytes], bytes] | None = None  # (set by open)
        #: when the file was written: every record in it was created before
        self.mtime = 0.0  # (set by open)

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        check_index: bool = False,
        key_of: Callable[[bytes], bytes] | None = None,
    ) -> Pack:
        """Map ``path`` and check its header (``FileNotFoundError`` passes through).

        A damaged header or truncated index gives a pack with ``damage`` set (its rows
        that fit in the file are still searched); with ``check_index`` (``verify``),
        that damage, or a whole index not matching its digest, raises
        ``CorruptArtifactError``. A pack of a newer format raises ``FormatVersionError``.
        ``key_of`` (the key digest a record names) lets a damaged index be rebuilt
        from the records (see :mod:`.pack_recovery`).
        """
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)  # (no file object: cheaper)
        try:
            stat = os.fstat(fd)
            size = stat.st_size
            if size < _HEADER.size:
                cut = f"pack is truncated ({size} bytes)"
                if check_index:
                    raise CorruptArtifactError(path, cut)
                empty = cls(path, b"", PackIndex(b"", 0, 0), cut)
                empty.mtime = stat.st_mtime
                return empty
            data = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        magic, version, count, _ = _HEADER.unpack_from(data, 0)
        damage: str | None = _header_damage(path, data, magic, version)
        rows = (size - _HEADER.size) // ROW.size
        if count > rows:
            damage = damage or (
                f"pack index is truncated ({count} records declared, room for {rows})"
            )
            count = rows
        pack = cls(path, data, PackIndex(data, _HEADER.size, count), damage)
        pack.mtime = stat.st_mtime
        pack._key_of = None if check_index else key_of
        if check_index and not pack.misses_prove():
            raise CorruptArtifactError(path, str(pack.damage))
        return pack

    def misses_prove(self) -> bool:
        """Whether a key not found in this pack is truly not in it: the header is sound
        and the whole index matches its digest, or a damaged index could be rebuilt from
        the records (checked once, on the first call)."""
        if not self.index_checked:
            self.index_checked = True
            end = _HEADER.size + len(self) * ROW.size
            expected = _HEADER.unpack_from(self._data, 0)[3] if self._data else b""
            if self.damage is None and (
                xxhash.xxh3_128_digest(memoryview(self._data)[_HEADER.size : end]) != expected
            ):
                self.damage = "pack index checksum does not match"
            if self.damage is not None and self._key_of is not None:
                self._repair(self._key_of)
        return self.damage is None

    def _repair(self, key_of: Callable[[bytes], bytes]) -> None:
        span = (_HEADER.size + len(self) * ROW.size, len(self._data))
        rebuilt = rebuilt_index(self.index.rows(), span, self.record, key_of)
        if rebuilt is not None:
            self.index = PackIndex(rebuilt, 0, len(self))
            self.repaired, self.damage = self.damage, None

    def __len__(self) -> int:
        return self.index.count

    def find(self, digest: bytes) -> bytes | None:
        """The record stored under ``digest`` (16 bytes), or None."""
        row = self.index.find(digest)
        if row is None:
            return None
        _, offset, length, check = row
        record = self._data[offset : offset + length]
        if len(record) != length or _check(record) != check:
            raise CorruptArtifactError(
                self.path, f"record of {digest.hex()} does not match its checksum"
            )
        return record

    def find_many(self, digests: Sequence[bytes]) -> tuple[list[int], list[bytes], list[int]]:
        """Positions in ``digests`` (16 bytes each) of those found, their records, and
        the positions of those whose record fails its check (damaged: not returned)."""
        positions, offsets, lengths, expected = self.index.find_many(digests)
        if not positions:  # (a miss: nothing to read)
            return [], [], []
        data = self._data  # C-level loops: no Python call per record
        records = list(map(data.__getitem__, map(slice, offsets, map(add, offsets, lengths))))
        checks = list(map(and_, map(xxhash.xxh3_64_intdigest, records), repeat(_CHECK_MASK)))
        if checks == expected and list(map(len, records)) == lengths:
            return positions, records, []
        sound = [
            len(record) == length and check == wanted
            for record, length, check, wanted in zip(
                records, lengths, checks, expected, strict=True
            )
        ]
        damaged = [p for p, ok in zip(positions, sound, strict=True) if not ok]
        kept = [(p, r) for p, r, ok in zip(positions, records, sound, strict=True) if ok]
        return [p for p, _ in kept], [r for _, r in kept], damaged

    def contains(self, needle: bytes) -> bool:
        """Whether ``needle`` occurs anywhere in the file (one scan, then remembered)."""
        known = self._contains.get(needle)
        if known is None:
            known = self._contains[needle] = self._data.find(needle) >= 0
        return known

    def record(self, row: int) -> bytes:
        return self._checked(row, *self.index.row(row)[1:])

    def _checked(self, row: int, offset: int, length: int, check: int) -> bytes:
        record = self._data[offset : offset + length]
        if len(record) != length or _check(record) != check:
            raise CorruptArtifactError(self.path, f"record {row} does not match its checksum")
        return bytes(record)

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        """Every ``(key digest, record)`` in key order (a damaged record raises)."""
        for row, (digest, *place) in enumerate(self.index.rows()):
            yield digest, self._checked(row, *place)

    def iter_checked(self) -> Iterator[tuple[bytes, bytes | None]]:
        """Every ``(key digest, record)`` in key order, None for a record failing its check."""
        for row, (digest, *place) in enumerate(self.index.rows()):
            try:
                yield digest, self._checked(row, *place)
            except CorruptArtifactError:
                yield digest, None


def _header_damage(path: Path, data: mmap.mmap, magic: bytes, version: int) -> str | None:
    """What is wrong with a pack's header, if anything; a newer format (the content still
    matches the pack's name, which is its digest) raises ``FormatVersionError``."""
    if magic == _MAGIC and 0 < version <= PACK_FORMAT_VERSION:
        return None
    if magic == _MAGIC and version > PACK_FORMAT_VERSION:
        if xxhash.xxh3_128_hexdigest(data) == path.stem.removeprefix("pack-"):
            raise FormatVersionError(
                f"pack {path} has format {version}; this exca reads up to "
                f"{PACK_FORMAT_VERSION}: upgrade exca"
            )
        return f"damaged pack header (format field reads {version}; the content does not match the pack's name)"
    return f"damaged pack header (magic {magic!r}, expected {_MAGIC!r})"
