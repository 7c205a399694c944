"""The entry records of one folder: loose files for new writes, packs for the rest.

Reading never writes. A loose record is always at least as new as any packed record of
the same key (packing claims a loose file only after its record is in a published pack,
and puts back a newer one it claimed by mistake), so a lookup reads the loose file
first, then the packs, newest record winning between packs. A packed record is
served only if no damaged pack written after it may hide a newer one (see
:func:`.pack_search.hiding_pack`): then its key is damaged, a miss, never the older value.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import packing
from .damage import Damage, holds_record
from .entries import Entry, decode_entry, encode_entry, key_digest, key_digests, seal, unseal
from .entry_map import decoded
from .errors import CorruptArtifactError, ReadOnlyStoreError
from .layout import LOOSE_DIR, PACKS_DIR, is_loose_entry_name
from .pack_search import hiding_pack, search_packs
from .packing import MERGE_PACKS_OVER
from .packs import Pack
from .publish import publish_bytes, translate_write_errors

__all__ = ["EntryTable", "MERGE_PACKS_OVER"]

PACK_LOOSE_OVER = 1024  # a writer packs when it finds more loose records than this
PACK_CHECK_EVERY = 256  # ... counting them every that many of its own single writes
_TRUSTED_AGE_S = 2.0  # a packs-folder time stamp older than this is trusted to reveal changes


@dataclass(frozen=True, slots=True)
class LooseRecord:
    digest: bytes
    record: bytes
    entry: Entry
    inode: int
    mtime_ns: int


class EntryTable:
    """Loose entry files and packs under ``folder`` (``folder/entries``, ``folder/packs``)."""

    def __init__(self, folder: Path, *, durable: bool = False, read_only: bool = False) -> None:
        self.folder = Path(folder)
        # plain strings: pathlib costs more than the system calls on the lookup path
        self.loose_dir = os.path.join(self.folder, LOOSE_DIR)
        self._packs_dir = os.path.join(self.folder, PACKS_DIR)
        self.durable = durable
        self.read_only = read_only
        self._packs: dict[str, Pack] = {}
        self._packs_stamp: tuple[int, int] | None = None
        self._stamp_is_recent = True
        self._puts_since_check = 0

    # ----------------------------------------------------------------- reading
    def get(self, key: str) -> Entry | None:
        """The newest record of ``key`` (tombstones included), or None; raises
        ``CorruptArtifactError`` when a damaged pack may hold a newer record of it."""
        digest = key_digest(key)
        entry = self.read_loose(digest)
        if entry is not None:
            return entry
        packs = self.current_packs()
        records = [pack.find(digest) for pack in packs]
        found = self._newest(records, key)
        if found is None:
            if not _misses_proven(packs):
                return self.get(key)  # a pack's key index was just rebuilt: search it again
            for pack in packs:
                if pack.damage is not None:
                    raise CorruptArtifactError(
                        pack.path, f"{pack.damage}: it may hold the record of key {key!r}"
                    )
            return None
        # only the packs written after the record and not holding the key may hide a
        # newer record: their indexes are checked (once per process), no other
        created = found.created
        later = [p for p, r in zip(packs, records, strict=True) if r is None and p.mtime >= created]
        if not later:  # (the usual case: one pack, or a record newer than the others)
            return found
        if not _misses_proven(later):
            return self.get(key)
        hiding = hiding_pack(created, later)
        if hiding is not None:
            raise CorruptArtifactError(
                hiding.path, f"{hiding.damage}: it may hold a newer record of key {key!r}"
            )
        return found

    def get_many(self, keys: Sequence[str]) -> dict[str, Entry]:
        """Records of the ``keys`` present (tombstones included): one folder listing and
        one index search per pack, not one file open per key. A damaged record raises."""
        damaged: dict[str, str] = {}
        found = decoded(self.find_many(keys, damaged), self._packs_dir)
        for key, reason in damaged.items():
            raise CorruptArtifactError(self.folder, f"record of key {key!r}: {reason}")
        return found

    def find_many(self, keys: Sequence[str], damaged: dict[str, str]) -> dict[str, Entry | bytes]:
        """:meth:`get_many`, leaving undecoded (as their checked bytes) the packed records
        that need no decoding to be resolved (see :mod:`.pack_search`).

        Keys whose record cannot be trusted (it fails its check, the key is found
        nowhere while a pack is damaged, or a damaged pack written after the record found
        may hide a newer one) are left out and added to ``damaged``, with why.
        """
        digests = key_digests(keys)
        packs = self.current_packs()
        loose_names = self.loose_names()
        mine: dict[str, str] = {}
        if not loose_names:
            found = search_packs(packs, keys, digests, self._packs_dir, mine)
        else:
            found = self._find_loose_first(keys, digests, set(loose_names), packs, mine)
        if len(found) + len(mine) < len(keys) and not _misses_proven(packs):
            return self.find_many(keys, damaged)  # a key index was just rebuilt: again
        if found and len(packs) > 1:  # (one pack can hide nothing newer than its own)
            if not _misses_proven(packs):
                return self.find_many(keys, damaged)
            if any(pack.damage is not None for pack in packs):
                self._drop_hidden(found, packs, mine)
        damaged.update(mine)
        if len(found) + len(mine) < len(keys) and any(p.damage is not None for p in packs):
            pack = next(p for p in packs if p.damage is not None)
            for key in keys:
                if key not in found and key not in mine:
                    damaged[key] = f"{pack.path}: {pack.damage}: it may hold this key's record"
        return found

    def _drop_hidden(
        self, found: dict[str, Entry | bytes], packs: Sequence[Pack], damaged: dict[str, str]
    ) -> None:
        """Move to ``damaged`` the keys found whose newer record a damaged pack may hide."""
        for key in list(found):
            item = found[key]
            entry = decode_entry(item, self._packs_dir) if isinstance(item, bytes) else item
            digest = key_digest(key)
            damaged_packs = (p for p in packs if p.damage is not None)
            hiding = hiding_pack(
                entry.created, (p for p in damaged_packs if not _holds(p, digest, key))
            )
            if hiding is not None:
                del found[key]
                damaged[key] = f"{hiding.path}: {hiding.damage}: it may hold a newer record"

    def _find_loose_first(
        self,
        keys: Sequence[str],
        digests: Sequence[bytes],
        names: set[str],
        packs: Sequence[Pack],
        damaged: dict[str, str],
    ) -> dict[str, Entry | bytes]:
        found: dict[str, Entry | bytes] = {}
        rest = []
        for position, digest in enumerate(digests):
            try:
                entry = self.read_loose(digest) if digest.hex() in names else None
            except CorruptArtifactError as err:  # newer than any packed record: no fallback
                damaged[keys[position]] = f"{err.path}: {err.detail}"
                continue
            if entry is None:
                rest.append(position)
            else:
                found[keys[position]] = entry
        if rest:
            rest_keys, rest_digests = [keys[p] for p in rest], [digests[p] for p in rest]
            found.update(search_packs(packs, rest_keys, rest_digests, self._packs_dir, damaged))
        return found

    def iter_entries(self, damaged: list[Damage] | None = None) -> Iterator[Entry]:
        """The newest record of every key (tombstones included), loose first.

        A damaged record raises ``CorruptArtifactError``; given a ``damaged`` list, it is
        skipped and described there instead, and so is its key: an older record of a
        key whose newest one is damaged, or may be in a damaged pack, is not listed in
        its place.
        """
        seen: dict[bytes, Entry] = {}
        bad: set[bytes] = set()
        for name in self.loose_names():
            try:
                item = self.read_loose_file(name)
            except CorruptArtifactError as err:
                if damaged is None:
                    raise
                path = Path(self.loose_dir, name)
                damaged.append(Damage(path, err.detail, holds_record=holds_record(path)))
                bad.add(bytes.fromhex(name))
                continue
            if item is not None:
                seen[item.digest] = item.entry
        packed, written, held = self._packed_entries(seen, damaged)
        for digest, entry in (*seen.items(), *packed.items()):
            if held:  # damaged packs: one may hide a newer record (``damaged`` says which)
                others = (p for p in held if digest not in held[p])
                if hiding_pack(entry.created, others) is not None:
                    continue
            if digest in seen:
                yield entry
            # newer than a damaged record: it is the newest
            elif digest not in bad and entry.created > written.get(digest, 0.0):
                yield entry

    def _packed_entries(
        self, seen: dict[bytes, Entry], damaged: list[Damage] | None
    ) -> tuple[dict[bytes, Entry], dict[bytes, float], dict[Pack, set[bytes]]]:
        """The newest packed record of each key not in ``seen``; when each damaged record
        was written (by digest); and the keys each damaged pack was seen to hold."""
        packed: dict[bytes, Entry] = {}
        written: dict[bytes, float] = {}
        held: dict[Pack, set[bytes]] = {}
        for pack in self.current_packs():
            sound = pack.misses_prove()  # (before it is read: it may rebuild the index)
            rows = held.setdefault(pack, set()) if not sound else None
            for digest, entry in _pack_entries(pack, damaged, written):
                if rows is not None:
                    rows.add(digest)
                if digest not in seen and (
                    digest not in packed or packed[digest].created < entry.created
                ):
                    packed[digest] = entry
        return packed, written, held

    def _newest(self, records: Iterable[bytes | None], key: str) -> Entry | None:
        best: Entry | None = None
        for record in records:
            if record is None:
                continue
            entry = decode_entry(record, self._packs_dir)
            if entry.key == key and (best is None or entry.created > best.created):
                best = entry
        return best

    def read_loose(self, digest: bytes) -> Entry | None:
        path = os.path.join(self.loose_dir, digest.hex())
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return decode_entry(unseal(data, path), path)

    def loose_names(self) -> list[str]:
        try:
            return [n for n in os.listdir(self.loose_dir) if is_loose_entry_name(n)]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def iter_loose(self, skip_corrupt: bool = False) -> Iterator[LooseRecord]:
        for name in self.loose_names():
            try:
                item = self.read_loose_file(name)
            except CorruptArtifactError:
                if skip_corrupt:  # packing leaves it to verify(), which reports it
                    continue
                raise
            if item is not None:
                yield item

    def read_loose_file(self, name: str) -> LooseRecord | None:
        path = os.path.join(self.loose_dir, name)  # (plain strings: packing reads every one)
        try:
            with open(path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                data = handle.read()
        except FileNotFoundError:
            return None  # packed meanwhile: the packs have it
        record = unseal(data, path)
        entry = decode_entry(record, path)
        return LooseRecord(bytes.fromhex(name), record, entry, stat.st_ino, stat.st_mtime_ns)

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self._packs_dir)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return (stat.st_mtime_ns, stat.st_ino)

    def current_packs(self) -> list[Pack]:
        """The packs now published. The listing is reused while the folder's time stamp
        is unchanged, unless that stamp was recent when read: two changes within one
        clock tick of the file system share a stamp, so a recent stamp proves nothing."""
        stamp = self._stamp()
        if stamp is None:
            self._packs, self._packs_stamp = {}, None
            return []
        if stamp != self._packs_stamp or self._stamp_is_recent:
            for _ in range(5):  # a merge may remove packs between listing and opening
                if self._load_packs() and stamp == self._stamp():
                    break
                stamp = self._stamp()
            self._packs_stamp = stamp
            self._stamp_is_recent = stamp is None or time.time() - stamp[0] / 1e9 < _TRUSTED_AGE_S
        return list(self._packs.values())

    def _load_packs(self) -> bool:
        try:
            names = sorted(n for n in os.listdir(self._packs_dir) if n.endswith(".pack"))
        except (FileNotFoundError, NotADirectoryError):
            self._packs = {}
            return True
        packs: dict[str, Pack] = {}
        complete = True
        for name in names:
            try:
                packs[name] = self._packs.get(name) or Pack.open(
                    Path(self._packs_dir, name), key_of=_record_key
                )
            except FileNotFoundError:
                complete = False
        self._packs = packs
        return complete

    # ----------------------------------------------------------------- writing
    def put(self, entry: Entry) -> None:
        """Publish one record as a loose file (atomic; replaces an older one)."""
        self._check_writable("write an entry")
        path = os.path.join(self.loose_dir, key_digest(entry.key).hex())
        with translate_write_errors(self.folder, "write an entry"):
            publish_bytes(path, seal(encode_entry(entry)), durable=self.durable)
        self._puts_since_check += 1
        if self._puts_since_check >= PACK_CHECK_EVERY:
            self._puts_since_check = 0
            if len(self.loose_names()) > PACK_LOOSE_OVER:  # bulk reads list this folder
                self.pack()

    def put_many(self, entries: Sequence[Entry]) -> None:
        """Publish many records at once as one pack (atomic: all or none)."""
        if not entries:
            return
        self._check_writable("write entries")
        latest = {key_digest(e.key): e for e in entries}  # last one wins
        with translate_write_errors(self.folder, "write entries"):
            packing.publish_pack(self, [(d, encode_entry(e)) for d, e in latest.items()])
            packing.retire_older_loose(self, latest)
            if len(self.current_packs()) > MERGE_PACKS_OVER:
                self.pack()

    def pack(self) -> int:
        """Move loose records into a new pack (see :func:`.packing.pack`); returns how
        many records the new pack holds."""
        self._check_writable("pack entries")
        return packing.pack(self)

    def _check_writable(self, attempted: str) -> None:
        if self.read_only:
            raise ReadOnlyStoreError(self.folder, attempted, reason="opened with read_only=True")


def _misses_proven(packs: Sequence[Pack]) -> bool:
    """Check each pack's index once (see :meth:`Pack.misses_prove`); False if one was
    rebuilt just now, so that a search made before must be made again."""
    repaired = sum(pack.repaired is not None for pack in packs)
    for pack in packs:
        pack.misses_prove()
    return sum(pack.repaired is not None for pack in packs) == repaired


def _holds(pack: Pack, digest: bytes, key: str) -> bool:
    """Whether ``pack`` holds a sound record of ``key`` (a damaged one may be newer)."""
    try:
        record = pack.find(digest)
        return record is not None and decode_entry(record, pack.path).key == key
    except CorruptArtifactError:
        return False


def _record_key(record: bytes) -> bytes:
    """The digest of the key an entry record holds (a damaged pack index is rebuilt so)."""
    return key_digest(decode_entry(record, "a pack record").key)


def _pack_entries(
    pack: Pack, damaged: list[Damage] | None, written: dict[bytes, float]
) -> Iterator[tuple[bytes, Entry]]:
    """The decodable records of ``pack``; the others raise, or are described in
    ``damaged`` with the time their pack was written noted in ``written``."""
    sound = pack.misses_prove()  # first: a damaged key index is rebuilt before it is read
    for digest, record in pack.iter_checked():
        try:
            if record is None:
                raise CorruptArtifactError(pack.path, f"record {digest.hex()} fails its check")
            yield digest, decode_entry(record, pack.path)
        except CorruptArtifactError as err:
            if damaged is None:
                raise
            damaged.append(Damage(pack.path, err.detail))
            written[digest] = max(written.get(digest, 0.0), pack.mtime)
    if not sound:
        if damaged is None:
            raise CorruptArtifactError(pack.path, str(pack.damage))
        damaged.append(Damage(pack.path, f"{pack.damage}: some records may not be listed"))
