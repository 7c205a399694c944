"""Bulk lookups in a folder's packs: the newest record of many keys, found at once.

Found records are returned as their checked bytes, undecoded (an ``EntryMap`` decodes
them when they are read), except those that must be decoded to be resolved: a record
that may be a tombstone, and a key found in several packs (the newest record wins).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .entries import TOMBSTONE_STATUS, Entry, decode_entry, may_be_tombstones
from .packs import Pack

__all__ = ["hiding_pack", "search_packs"]


_WHOLE_PACK_SCAN = 4  # scan the whole pack once for a lookup of over 1/4 of its records

Found = dict[str, Entry | bytes]


def search_packs(
    packs: Sequence[Pack],
    keys: Sequence[str],
    digests: Sequence[bytes],
    where: object,
    damaged: dict[str, str],
) -> Found:
    """The newest record of each of ``keys`` (whose digests are ``digests``) in ``packs``,
    tombstones included; ``where`` names the records' folder in errors.

    A key whose record fails its check in any pack is left out and added to ``damaged``
    with the reason (another pack's record of it may be older than the damaged one).
    """
    if not packs or not keys:
        return {}
    found: Found = {}
    written: dict[str, float] = {}  # damaged key -> when its damaged pack was written
    for pack in packs:
        positions, records, bad = pack.find_many(digests)
        for position in bad:
            damaged[keys[position]] = f"{pack.path}: its record does not match its checksum"
            written[keys[position]] = max(written.get(keys[position], 0.0), pack.mtime)
        # positions are increasing: when all are found, they are every one in order
        wanted = list(keys) if len(positions) == len(keys) else [keys[p] for p in positions]
        hits: Found = dict(zip(wanted, records, strict=True))
        if _may_hold_tombstones(pack, records, wanted):
            _decode_marked(hits, wanted, records, where)
        if not found:
            found = hits
            continue
        for key in hits.keys() & found.keys():
            _keep_newest(key, found, hits, where)
        found.update(hits)
    for key in written.keys() & found.keys():
        _keep_if_newer(key, found, damaged, written[key], where)
    return found


def hiding_pack(created: float, packs: Iterable[Pack]) -> Pack | None:
    """Of ``packs``, those holding no record of a key, the damaged one that may hide a
    newer record of it than the one found, created at ``created``; None when the one
    found is the newest.

    Such a pack's misses prove nothing (its ``damage`` is set once
    :meth:`Pack.misses_prove` was called: the caller calls it first, and searches again
    if that rebuilt an index) and it was written at or after ``created``: every record
    in a pack was created before the pack was written, so a record created after it is
    newer than anything it holds (the rule of :func:`_keep_if_newer`). A pack holding a
    record of the key holds no other one of it: the caller leaves it out.
    """
    for pack in packs:
        if pack.damage is not None and pack.mtime >= created:
            return pack
    return None


def _keep_if_newer(
    key: str, found: Found, damaged: dict[str, str], written: float, where: object
) -> None:
    """Serve the sound record of a key also damaged elsewhere only if it was created after
    the damaged pack was written (so it is newer than anything that pack held)."""
    item = found[key]
    entry = decode_entry(item, where) if isinstance(item, bytes) else item
    if entry.key == key and entry.created > written:
        found[key] = entry
        del damaged[key]
    else:
        del found[key]


def _may_hold_tombstones(pack: Pack, records: list[bytes], keys: list[str]) -> bool:
    # a scan of the whole file (remembered) costs little when the records are a good
    # part of the pack, and a pack without tombstones holds none of them
    if len(records) * _WHOLE_PACK_SCAN >= len(pack) and not pack.contains(TOMBSTONE_STATUS):
        return False
    return may_be_tombstones(records, keys)


def _decode_marked(hits: Found, keys: list[str], records: list[bytes], where: object) -> None:
    """Decode the records that may be tombstones (they hide older records of their key)."""
    for key, record in zip(keys, records, strict=True):
        if TOMBSTONE_STATUS in record:
            entry = decode_entry(record, where)
            if entry.key == key:
                hits[key] = entry
            else:  # a record of another key under this digest: not this key's
                del hits[key]


def _keep_newest(key: str, found: Found, hits: Found, where: object) -> None:
    """Leave in ``hits`` the newer of two records of ``key`` from different packs."""
    best: Entry | None = None
    for item in (found.pop(key), hits.pop(key)):
        entry = decode_entry(item, where) if type(item) is bytes else item
        if entry.key == key and (best is None or entry.created > best.created):  # type: ignore[union-attr]
            best = entry  # type: ignore[assignment]
    if best is not None:
        hits[key] = best
