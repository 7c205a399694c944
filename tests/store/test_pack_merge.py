"""Contract of merging some packs into one (``packing.merge_packs``), and of write blocks
that end with one pack: the newest record of each key is kept, every tombstone with it
(older records elsewhere stay hidden), damaged packs are left as they are, and a merge
that dies before removing the packs it merged loses and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from exca.store import CacheDict, entry_table, namespace, packing
from exca.store.codecs.base import Encoded
from exca.store.entries import Entry, decode_entry, key_digest, new_entry
from exca.store.entry_table import EntryTable
from exca.store.layout import PACKS_DIR
from exca.store.packs import Pack


def _entry(key: str, value: bytes = b"v", status: str = "success", age: float = 0.0) -> Entry:
    entry = new_entry(key, status, "msgpack", 1, Encoded(value))  # type: ignore[arg-type]
    return entry._replace(created=entry.created - age)


def _pack_names(folder: Path) -> list[str]:
    return sorted(path.name for path in (folder / PACKS_DIR).iterdir())


def _write_in_one_block(cache: CacheDict, count: int) -> None:
    """``k0`` ... ``k{count - 1}`` (values 0 ...) written in one ``write()`` block."""
    with cache.write():
        for i in range(count):
            cache[f"k{i}"] = i


def test_a_block_that_published_several_packs_ends_with_one_holding_every_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(namespace, "_BUFFER_LIMIT", 10)  # a pack every 10 entries
    cache = CacheDict(tmp_path)
    with cache.write():
        for i in range(35):
            cache[f"k{i}"] = i
        cache["k3"] = "rewritten"  # in a later pack than its first value
        assert len(_pack_names(tmp_path)) == 3  # (the block publishes as it goes)
    assert len(_pack_names(tmp_path)) == 1
    fresh = CacheDict(tmp_path)
    assert {key: fresh[key] for key in fresh} == {f"k{i}": i for i in range(35)} | {
        "k3": "rewritten"
    }


def test_a_block_that_raised_publishes_its_entries_without_merging_its_packs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(namespace, "_BUFFER_LIMIT", 10)
    cache = CacheDict(tmp_path)
    with pytest.raises(KeyboardInterrupt), cache.write():
        for i in range(25):
            cache[f"k{i}"] = i
        raise KeyboardInterrupt  # (a Ctrl-C: the block ends as soon as it can)
    assert len(_pack_names(tmp_path)) == 3
    assert CacheDict(tmp_path).get_many([f"k{i}" for i in range(25)]) == list(range(25))


def test_a_block_merges_only_packs_it_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(namespace, "_BUFFER_LIMIT", 10)
    cache = CacheDict(tmp_path)
    cache.update({f"before{i}": i for i in range(5)})  # a pack of an earlier block
    (earlier,) = _pack_names(tmp_path)
    _write_in_one_block(cache, 25)
    assert earlier in _pack_names(tmp_path) and len(_pack_names(tmp_path)) == 2
    assert CacheDict(tmp_path).get_many(["before4", "k24"]) == [4, 24]


def test_a_block_ends_with_one_pack_even_when_packing_merged_all_packs_during_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(namespace, "_BUFFER_LIMIT", 10)
    monkeypatch.setattr(entry_table, "MERGE_PACKS_OVER", 2)  # a full merge every 3 packs
    _write_in_one_block(CacheDict(tmp_path), 55)
    assert len(_pack_names(tmp_path)) == 1
    assert CacheDict(tmp_path).get_many([f"k{i}" for i in range(55)]) == list(range(55))


def test_similar_sizes_leaves_out_a_pack_much_larger_than_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packing, "SMALL_PACK", 0)
    table = EntryTable(tmp_path)
    for count in (100, 10, 12):
        table.put_many([_entry(f"{count}-{i}") for i in range(count)])
    assert sorted(map(len, packing.similar_sizes(table.current_packs()))) == [10, 12]
    monkeypatch.setattr(packing, "SMALL_PACK", 100)  # a pack that small merges whatever
    assert len(packing.similar_sizes(table.current_packs())) == 3


def test_a_merge_of_some_packs_keeps_an_old_tombstone_hiding_a_record_in_another(
    tmp_path: Path,
) -> None:
    table = EntryTable(tmp_path)
    old = packing.TOMBSTONE_GRACE_S * 2
    table.put_many([_entry("k", b"value", age=old + 1), _entry("a")])
    table.put_many([_entry("k", status="deleted", age=old), _entry("b")])
    table.put_many([_entry("c"), _entry("d")])
    # (packs are listed by name, in any order): all but the one with k's value
    merged = [pack for pack in table.current_packs() if pack.find(key_digest("a")) is None]
    assert packing.merge_packs(table, merged) is not None
    assert len(table.current_packs()) == 2
    fresh = EntryTable(tmp_path)
    assert fresh.get("k").status == "deleted"  # type: ignore[union-attr]
    assert set(fresh.get_many(["a", "b", "c", "d"])) == {"a", "b", "c", "d"}


@pytest.mark.parametrize("newest_listed_first", [True, False])
def test_a_merge_keeps_the_newest_record_of_a_key_found_in_several_packs(
    tmp_path: Path, newest_listed_first: bool
) -> None:
    table = EntryTable(tmp_path)
    table.put_many([_entry("k", b"old", age=10), _entry("a")])
    table.put_many([_entry("k", b"new"), _entry("b")])
    packs = list(table.current_packs())
    if newest_listed_first != (_inline_of(packs[0]) == b"new"):
        packs.reverse()
    packing.merge_packs(table, packs)
    fresh = EntryTable(tmp_path)
    assert len(fresh.current_packs()) == 1
    assert fresh.get("k").inline == b"new"  # type: ignore[union-attr]


def _inline_of(pack: Pack) -> bytes:
    record = pack.find(key_digest("k"))
    assert record is not None
    return decode_entry(record, pack.path).inline  # type: ignore[return-value]


def test_a_merge_leaves_a_damaged_pack_out_and_in_place(tmp_path: Path) -> None:
    table = EntryTable(tmp_path)
    table.put_many([_entry("k", b"x" * 100), _entry("j")])
    (damaged,) = table.current_packs()
    data = bytearray(damaged.path.read_bytes())
    data[-5] ^= 0xFF  # a byte of a record: its check fails
    damaged.path.chmod(0o644)
    damaged.path.write_bytes(bytes(data))
    table.put_many([_entry("a"), _entry("b")])
    table.put_many([_entry("c"), _entry("d")])
    fresh = EntryTable(tmp_path)
    merged = packing.merge_packs(fresh, fresh.current_packs())
    assert merged is not None
    assert sorted([damaged.path.name, merged.name]) == _pack_names(tmp_path)
    assert set(EntryTable(tmp_path).get_many(["a", "b", "c", "d"])) == {"a", "b", "c", "d"}


def test_a_merge_that_dies_before_removing_the_old_packs_changes_no_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = EntryTable(tmp_path)
    for batch in range(3):
        table.put_many([_entry(f"b{batch}-{i}", bytes([batch])) for i in range(5)])
    table.put_many([_entry("b0-0", b"newest")])
    expected = EntryTable(tmp_path).get_many([f"b{b}-{i}" for b in range(3) for i in range(5)])

    def die(*_: object) -> None:
        raise KeyboardInterrupt  # (the process is killed between the two steps)

    monkeypatch.setattr(packing, "_discard_merged", die)
    with pytest.raises(KeyboardInterrupt):
        packing.merge_packs(table, table.current_packs())
    monkeypatch.undo()
    assert len(_pack_names(tmp_path)) == 5  # the merged pack beside the four it merges
    assert EntryTable(tmp_path).get_many(list(expected)) == expected
    packing.merge_packs(table, EntryTable(tmp_path).current_packs())
    assert len(_pack_names(tmp_path)) == 1
    assert EntryTable(tmp_path).get_many(list(expected)) == expected
    assert expected["b0-0"].inline == b"newest"


def test_a_reader_that_listed_the_packs_before_a_merge_reads_the_same_values_after(
    tmp_path: Path,
) -> None:
    writer, reader = EntryTable(tmp_path), EntryTable(tmp_path)
    writer.put_many([_entry("a", b"1"), _entry("b", b"2")])
    writer.put_many([_entry("c", b"3"), _entry("d", b"4")])
    before = reader.get_many(["a", "b", "c", "d"])
    packing.merge_packs(writer, writer.current_packs())
    assert reader.get_many(["a", "b", "c", "d"]) == before
    assert all(reader.get(key) == entry for key, entry in before.items())
