"""The entry records of one folder: loose files for new writes, packs for the rest.

Reading never writes. A loose record is always at least as new as any packed record of
the same key (packing claims a loose file only after its record is in a published pack,
and puts back a newer one it claimed by mistake), so a lookup reads the loose file
first, then lists the packs, newest record winning between packs. The order matters: a
record packed away between the two is then in a pack listed (listing the packs first
could miss both, and serve an older packed record). A packed record is served only if
no damaged pack written after it may hide a newer one (see
:func:`.pack_search.hiding_pack`): then its key is damaged, a miss, never the older value.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from . import packing
from .damage import Damage
from .entries import Entry, decode_entry, encode_entry, key_digest, key_digests, seal
from .entry_listing import iter_entries
from .entry_map import decoded
from .errors import CorruptArtifactError, ReadOnlyStoreError
from .layout import LOOSE_DIR, PACKS_DIR
from .loose_records import LooseFolder, LooseRecord
from .pack_search import hiding_pack, search_packs
from .pack_set import PackSet
from .packing import MERGE_PACKS_OVER
from .packs import Pack
from .publish import publish_bytes, translate_write_errors

__all__ = ["EntryTable", "LooseRecord", "MERGE_PACKS_OVER"]

PACK_LOOSE_OVER = 1024  # a writer packs when it finds more loose records than this
PACK_CHECK_EVERY = 256  # ... counting them every that many of its own single writes


class EntryTable:
    """Loose entry files and packs under ``folder`` (``folder/entries``, ``folder/packs``)."""

    def __init__(self, folder: Path, *, durable: bool = False, read_only: bool = False) -> None:
        self.folder = Path(folder)
        # plain strings: pathlib costs more than the system calls on the lookup path
        self.loose = LooseFolder(os.path.join(self.folder, LOOSE_DIR))
        self.loose_dir = self.loose.folder
        self._packs_dir = os.path.join(self.folder, PACKS_DIR)
        self.packs = PackSet(self._packs_dir)
        self.durable = durable
        self.read_only = read_only
        self._puts_since_check = 0

    # ----------------------------------------------------------------- reading
    def get(self, key: str) -> Entry | None:
        """The newest record of ``key`` (tombstones included), or None; raises
        ``CorruptArtifactError`` when a damaged pack may hold a newer record of it."""
        digest = key_digest(key)
        entry = self.loose.read(digest)
        if entry is not None:
            return entry
        packs = self.packs.current()  # (after the loose file: see the module docstring)
        if len(packs) == 1:  # the usual case: one pack can hide nothing newer than its own
            pack = packs[0]
            record = pack.find(digest)
            if record is not None:
                found = decode_entry(record, self._packs_dir)
                if found.key == key:
                    return found
            elif _misses_proven(packs) and pack.damage is None:
                return None  # a miss, proven by a sound index (checked once per process)
        return self._get_from(packs, key, digest)

    def _get_from(self, packs: Sequence[Pack], key: str, digest: bytes) -> Entry | None:
        """:meth:`get` from the packs (any number of them, damaged ones included)."""
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
        if not later:  # (the usual case: a record newer than the other packs)
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
        loose_names = self.loose.names()
        mine: dict[str, str] = {}
        if not loose_names:
            packs = self.packs.current()  # (after the listing: see the module docstring)
            found = search_packs(packs, keys, digests, self._packs_dir, mine)
        else:
            found, packs = self._find_loose_first(keys, digests, set(loose_names), mine)
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
        damaged: dict[str, str],
    ) -> tuple[dict[str, Entry | bytes], tuple[Pack, ...]]:
        """The records found, reading the loose ones first, and the packs searched
        (listed once the loose files were read: see the module docstring)."""
        found: dict[str, Entry | bytes] = {}
        rest = []
        for position, digest in enumerate(digests):
            try:
                entry = self.loose.read(digest) if digest.hex() in names else None
            except CorruptArtifactError as err:  # newer than any packed record: no fallback
                damaged[keys[position]] = f"{err.path}: {err.detail}"
                continue
            if entry is None:
                rest.append(position)
            else:
                found[keys[position]] = entry
        packs = self.packs.current()
        if rest:
            rest_keys, rest_digests = [keys[p] for p in rest], [digests[p] for p in rest]
            found.update(search_packs(packs, rest_keys, rest_digests, self._packs_dir, damaged))
        return found, packs

    def iter_entries(self, damaged: list[Damage] | None = None) -> Iterator[Entry]:
        """The newest record of every key (tombstones included), loose first; see
        :func:`.entry_listing.iter_entries` (a damaged record raises, or is described
        in ``damaged`` and skipped, its key with it)."""
        return iter_entries(self.loose, self.packs.current, damaged)

    def _newest(self, records: Iterable[bytes | None], key: str) -> Entry | None:
        best: Entry | None = None
        for record in records:
            if record is None:
                continue
            entry = decode_entry(record, self._packs_dir)
            if entry.key == key and (best is None or entry.created > best.created):
                best = entry
        return best

    def current_packs(self) -> tuple[Pack, ...]:
        """The packs now published (see :class:`.pack_set.PackSet`)."""
        return self.packs.current()

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
            if len(self.loose.names()) > PACK_LOOSE_OVER:  # bulk reads list this folder
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
    for pack in packs:
        if not pack.index_checked:  # (once per pack and process: every lookup passes here)
            repaired = pack.repaired
            pack.misses_prove()
            if pack.repaired is not repaired:
                return False
    return True


def _holds(pack: Pack, digest: bytes, key: str) -> bool:
    """Whether ``pack`` holds a sound record of ``key`` (a damaged one may be newer)."""
    try:
        record = pack.find(digest)
        return record is not None and decode_entry(record, pack.path).key == key
    except CorruptArtifactError:
        return False
