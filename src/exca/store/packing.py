"""Packing: moving the loose entry records of a table into immutable packs.

Writers pack, readers never do. Packing is safe beside concurrent writers, readers and
other packers: nothing is removed before its replacement is published, a loose record
newer than the packed one stays (or is put back), and a deletion stays visible for
``TOMBSTONE_GRACE_S`` so that a slow packer cannot bring its key back.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .digest import digest_bytes
from .entries import TOMBSTONE_STATUS, Entry, decode_entry, key_digest, unseal
from .errors import CorruptArtifactError
from .layout import pack_path, temp_loose_entry_digest, temp_name
from .pack_merge import created_of, newest_records
from .packs import Pack, build_pack
from .publish import discard, publish_bytes, translate_write_errors

if TYPE_CHECKING:
    from .entry_table import EntryTable, LooseRecord

__all__ = [
    "MERGE_PACKS_OVER",
    "TOMBSTONE_GRACE_S",
    "merge_packs",
    "pack",
    "publish_pack",
    "retire_older_loose",
    "similar_sizes",
]

MERGE_PACKS_OVER = 8  # more packs than this: the next packing merges them all into one
TOMBSTONE_GRACE_S = 3600.0  # merges keep deletions younger than this
SIMILAR_SIZES = 2  # a block's packs merge unless one is this many times all smaller ones
SMALL_PACK = 65_536  # ... or holds no more records than this (a write block's flush)
# a packer holds a claimed record for microseconds: one claimed longer ago than this was
# left by a packer that died between claiming it and putting it back
STRANDED_AFTER_S = 60.0

Records = dict[bytes, bytes]  # key digest -> its record


def pack(table: EntryTable) -> tuple[int, Path | None]:
    """Move the loose records of ``table`` into a new pack (merging all packs when there
    are many); returns how many records the new pack holds, and its path (None when
    there was nothing to pack)."""
    with translate_write_errors(table.folder, "pack entries"):
        loose = list(table.loose.iter_records(skip_corrupt=True))
        old_packs: Sequence[Pack] = table.current_packs()
        _recover_stranded_claims(table, old_packs)
        merge = len(old_packs) > MERGE_PACKS_OVER or (not loose and len(old_packs) > 1)
        records: Records = {}
        if merge:  # a damaged pack is left as it is, for verify(fix=True) to report
            records, old_packs = newest_records(old_packs)
        for item in loose:  # read before the packs were listed: it may be the older
            known = records.get(item.digest)
            if known is None or created_of(known, table.folder) <= item.entry.created:
                records[item.digest] = item.record
        if merge:
            _drop_old_tombstones(records, table.folder)
        if not loose and not merge:
            return 0, None
        published = publish_pack(table, list(records.items()))
        if merge:  # before claiming: a loose tombstone must outlive the packs it hides
            _discard_merged(old_packs, published)
        for item in loose:
            _claim_loose(table, item)
    return len(records), published


def merge_packs(table: EntryTable, packs: Sequence[Pack]) -> Path | None:
    """Replace the sound ones of ``packs`` (in listing order) by one pack holding the
    newest record of each of their keys; its path, or None when fewer than two of them
    are sound (then nothing is written).

    Every tombstone is kept: packs left out may hold older records of those keys (only
    a merge of all packs, in :func:`pack`, drops old ones). Safe beside readers, writers
    and packers: the new pack is published before the old ones are removed, so that
    each record is always in a listed pack (a reader listing both finds the same record
    twice, which changes nothing; a merger killed in between leaves both, for the next
    merge); two merges of overlapping packs each publish theirs, every record in one.
    """
    records, sound = newest_records(packs)
    if len(sound) < 2:
        return None
    with translate_write_errors(table.folder, "merge packs"):
        published = publish_pack(table, list(records.items()))
        _discard_merged(sound, published)
    return published


def similar_sizes(packs: Sequence[Pack]) -> list[Pack]:
    """The smallest of ``packs`` (in listing order), each holding at most
    ``SIMILAR_SIZES`` times as many records as all smaller ones together, or at most
    ``SMALL_PACK``: merging a few packs into a much larger one would rewrite it for
    little, a small pack costs little to rewrite."""
    chosen: list[Pack] = []
    total = 0
    for one in sorted(packs, key=len):
        if chosen and len(one) > max(SIMILAR_SIZES * total, SMALL_PACK):
            break
        chosen.append(one)
        total += len(one)
    return [one for one in packs if one in chosen]


def _discard_merged(packs: Sequence[Pack], published: Path) -> None:
    """Remove the packs merged into ``published`` (which is one of them if identical)."""
    for old in packs:
        if old.path != published:
            discard(old.path)


def publish_pack(table: EntryTable, records: list[tuple[bytes, bytes]]) -> Path:
    """Publish a pack of ``(key digest, record)`` pairs in ``table``; its path."""
    data = build_pack(records)
    final = pack_path(table.folder, digest_bytes(data))
    publish_bytes(final, data, durable=table.durable)
    return final


def retire_older_loose(table: EntryTable, packed: dict[bytes, Entry]) -> None:
    """Loose records must stay the newest: remove those older than the pack just
    published, keeping any written after it (their ``created`` is later)."""
    for name in table.loose.names():
        digest = bytes.fromhex(name)
        if digest not in packed:
            continue
        path = os.path.join(table.loose_dir, name)
        claimed = temp_name(path)
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            continue
        try:
            newer = _read_claimed(claimed).created > packed[digest].created
        except CorruptArtifactError:
            newer = False
        if newer:
            _put_back(claimed, path)
        else:
            os.unlink(claimed)


def _drop_old_tombstones(records: Records, where: Path) -> None:
    """Drop deletions older than ``TOMBSTONE_GRACE_S``: a slow packer may still publish a
    record it read before the delete, and only the tombstone keeps it hidden."""
    horizon = time.time() - TOMBSTONE_GRACE_S
    marked = [digest for digest, record in records.items() if TOMBSTONE_STATUS in record]
    for digest in marked:  # (only a record holding these bytes may be a tombstone)
        try:
            entry = decode_entry(records[digest], where)
        except CorruptArtifactError:
            continue  # kept as it is, for verify() to report
        if entry.status == "deleted" and entry.created <= horizon:
            del records[digest]


def _read_claimed_record(path: str | Path) -> bytes:
    with open(path, "rb") as handle:
        return unseal(handle.read(), path)


def _read_claimed(path: str | Path) -> Entry:
    return decode_entry(_read_claimed_record(path), path)


def _claim_loose(table: EntryTable, item: LooseRecord) -> None:
    """Remove a packed loose file unless a newer record replaced it meanwhile."""
    path = os.path.join(table.loose_dir, item.digest.hex())  # (plain strings: once per record)
    claimed = temp_name(path)
    try:
        os.rename(path, claimed)
    except FileNotFoundError:
        return  # another packer took it
    # Compared by content, not by the file's inode and modification time: a file system
    # may give a newer record written meanwhile the inode just freed (ext4 does) and the
    # same coarse time stamp, and removing that record would serve the older packed one.
    try:
        same = _read_claimed_record(claimed) == item.record
    except CorruptArtifactError:
        same = False  # kept for verify() to report
    if same:
        os.unlink(claimed)
    else:
        _put_back(claimed, path)  # a newer record arrived after we read this one


def _put_back(claimed: str | Path, path: str | Path) -> None:
    """Return a newer record a packer took by mistake, unless a yet newer one is there.

    A hard link never replaces a record written meanwhile. Where linking fails (an
    I/O error, a file system without hard links) the record is renamed back if its
    place is still free: losing an acknowledged record is the worse outcome.
    """
    try:
        os.link(claimed, path)
    except FileExistsError:
        pass  # an even newer record is there already
    except OSError:
        if os.path.exists(path):
            os.unlink(claimed)  # a newer record took the place meanwhile
        else:
            os.rename(claimed, path)
        return
    discard(claimed)


def _recover_stranded_claims(table: EntryTable, packs: Sequence[Pack]) -> None:
    """Put back the records a killed packer left claimed (under a temporary name in the
    loose folder) when they are newer than anything else known of their key.

    A claimed record is one the packer had just packed (then it is in a pack: nothing
    to do) or, rarely, a newer one written between the packer's read and its claim,
    which it would have put back had it lived. The temporary's change time is when it
    was claimed (a rename changes it), so a young one may still be a live packer's.
    The rest is left to ``gc``, which removes old temporaries.
    """
    try:
        names = os.listdir(table.loose_dir)
    except (FileNotFoundError, NotADirectoryError):
        return
    horizon = time.time() - STRANDED_AFTER_S
    for name in names:
        digest_hex = temp_loose_entry_digest(name)
        if digest_hex is None:
            continue
        claimed = os.path.join(table.loose_dir, name)
        try:
            if os.stat(claimed).st_ctime > horizon:
                continue
            entry = _read_claimed(claimed)
            known = table.get(entry.key)
        except (FileNotFoundError, CorruptArtifactError):
            continue  # gone, or a torn write: gc removes it in time
        if key_digest(entry.key).hex() != digest_hex:
            continue  # not this name's record: a damaged file, left to verify and gc
        if known is None or known.created < entry.created:
            _put_back(claimed, os.path.join(table.loose_dir, digest_hex))
