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
from .entries import Entry, decode_entry, key_digest, unseal
from .errors import CorruptArtifactError
from .layout import pack_path, temp_loose_entry_digest, temp_name
from .packs import Pack, build_pack
from .publish import discard, publish_bytes, translate_write_errors

if TYPE_CHECKING:
    from .entry_table import EntryTable, LooseRecord

__all__ = ["MERGE_PACKS_OVER", "TOMBSTONE_GRACE_S", "pack", "publish_pack", "retire_older_loose"]

MERGE_PACKS_OVER = 8  # more packs than this: the next packing merges them all into one
TOMBSTONE_GRACE_S = 3600.0  # merges keep deletions younger than this
# a packer holds a claimed record for microseconds: one claimed longer ago than this was
# left by a packer that died between claiming it and putting it back
STRANDED_AFTER_S = 60.0

Records = dict[bytes, tuple[bytes, Entry]]  # key digest -> (record, its entry)


def pack(table: EntryTable) -> int:
    """Move the loose records of ``table`` into a new pack (merging all packs when there
    are many); returns how many records the new pack holds."""
    with translate_write_errors(table.folder, "pack entries"):
        loose = list(table.loose.iter_records(skip_corrupt=True))
        old_packs: Sequence[Pack] = table.current_packs()
        _recover_stranded_claims(table, old_packs)
        merge = len(old_packs) > MERGE_PACKS_OVER or (not loose and len(old_packs) > 1)
        records: Records = {}
        if merge:  # a damaged pack is left as it is, for verify(fix=True) to report
            records, old_packs = _merged_records(old_packs)
        for item in loose:  # read before the packs were listed: it may be the older
            known = records.get(item.digest)
            if known is None or known[1].created <= item.entry.created:
                records[item.digest] = (item.record, item.entry)
        if merge:
            records = _without_old_tombstones(records)
        if not loose and not merge:
            return 0
        published = publish_pack(table, [(d, r[0]) for d, r in records.items()])
        if merge:  # before claiming: a loose tombstone must outlive the packs it hides
            for old in old_packs:
                if old.path != published:  # a merge identical to an old pack is that pack
                    discard(old.path)
        for item in loose:
            _claim_loose(table, item)
    return len(records)


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


def _merged_records(packs: Sequence[Pack]) -> tuple[Records, list[Pack]]:
    """The newest record of each key in the sound ones of ``packs``, and those packs."""
    merged: Records = {}
    sound: list[Pack] = []
    for one in packs:
        try:
            if not one.misses_prove():
                continue
            records = [(digest, record, decode_entry(record, one.path)) for digest, record in one]
        except CorruptArtifactError:
            continue
        sound.append(one)
        for digest, record, entry in records:
            if digest not in merged or merged[digest][1].created < entry.created:
                merged[digest] = (record, entry)
    return merged, sound


def _without_old_tombstones(records: Records) -> Records:
    """Drop deletions older than ``TOMBSTONE_GRACE_S``: a slow packer may still publish a
    record it read before the delete, and only the tombstone keeps it hidden."""
    horizon = time.time() - TOMBSTONE_GRACE_S
    return {
        digest: record
        for digest, record in records.items()
        if record[1].status != "deleted" or record[1].created > horizon
    }


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
