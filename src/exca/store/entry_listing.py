"""Listing a table: the newest record of every key, loose records first, then packs.

The same rule as a lookup (see :mod:`.entry_table`): a loose record is the newest of its
key; between packs the newest record wins; and a key whose newest record is damaged,
or may be in a damaged pack, is skipped (described in ``damaged``), never listed with an
older record in its place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from .damage import Damage, holds_record
from .entries import Entry, decode_entry
from .errors import CorruptArtifactError
from .loose_records import LooseFolder
from .pack_search import hiding_pack
from .packs import Pack

__all__ = ["iter_entries"]


def iter_entries(
    loose: LooseFolder,
    list_packs: Callable[[], tuple[Pack, ...]],
    damaged: list[Damage] | None = None,
) -> Iterator[Entry]:
    """The newest record of every key (tombstones included), loose first.

    ``list_packs`` is called once the loose records are read (the order matters: a
    record packed meanwhile is then in one of the packs it returns). A damaged record raises ``CorruptArtifactError``; given a
    ``damaged`` list, it is skipped and described there instead, and so is its key.
    """
    seen: dict[bytes, Entry] = {}
    bad: set[bytes] = set()
    for name in loose.names():
        try:
            item = loose.read_file(name)
        except CorruptArtifactError as err:
            if damaged is None:
                raise
            path = Path(loose.folder, name)
            damaged.append(Damage(path, err.detail, holds_record=holds_record(path)))
            bad.add(bytes.fromhex(name))
            continue
        if item is not None:
            seen[item.digest] = item.entry
    packed, written, held = _packed_entries(list_packs(), seen, damaged)
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
    packs: tuple[Pack, ...], seen: dict[bytes, Entry], damaged: list[Damage] | None
) -> tuple[dict[bytes, Entry], dict[bytes, float], dict[Pack, set[bytes]]]:
    """The newest packed record of each key not in ``seen``; when each damaged record
    was written (by digest); and the keys each damaged pack was seen to hold."""
    packed: dict[bytes, Entry] = {}
    written: dict[bytes, float] = {}
    held: dict[Pack, set[bytes]] = {}
    for pack in packs:
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
