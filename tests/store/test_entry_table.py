"""Contract of entry tables: loose records, packs, newest-wins, tombstones, bulk lookups."""

from __future__ import annotations

import typing as tp
from pathlib import Path

import pytest

from exca.store import entry_table, packing
from exca.store.codecs.base import Encoded, ObjectRef
from exca.store.entries import Entry, new_entry
from exca.store.entry_table import MERGE_PACKS_OVER, EntryTable
from exca.store.errors import CorruptArtifactError, ReadOnlyStoreError
from exca.store.layout import LOOSE_DIR, PACKS_DIR


def _entry(key: str, value: bytes = b"v", status: str = "success") -> Entry:
    refs = (ObjectRef("ab" * 16, 3, ".npy"),)
    return new_entry(key, status, "msgpack", 1, Encoded(value, refs))  # type: ignore[arg-type]


def test_a_loose_record_reads_back_equal(tmp_path: Path) -> None:
    table = EntryTable(tmp_path)
    entry = _entry("k")
    table.put(entry)
    assert table.get("k") == entry
    assert table.get("other") is None


def test_a_loose_record_larger_than_one_read_comes_back_whole(tmp_path: Path) -> None:
    table = EntryTable(tmp_path)
    entry = _entry("big", bytes(range(256)) * 1_000)  # 256 kB inline: several reads
    table.put(entry)
    assert EntryTable(tmp_path).get("big") == entry


def test_packing_moves_loose_records_into_one_pack_and_keeps_them_readable(tmp_path: Path) -> None:
    table = EntryTable(tmp_path)
    entries = [_entry(f"key{i}", bytes([i])) for i in range(50)]
    for entry in entries:
        table.put(entry)
    assert table.pack() == 50
    assert list((tmp_path / LOOSE_DIR).iterdir()) == []
    assert len(list((tmp_path / PACKS_DIR).iterdir())) == 1
    fresh = EntryTable(tmp_path)
    assert all(fresh.get(e.key) == e for e in entries)
    assert fresh.get_many([e.key for e in entries] + ["absent"]) == {e.key: e for e in entries}


def test_a_newer_loose_record_wins_over_a_packed_one(tmp_path: Path) -> None:
    table = EntryTable(tmp_path)
    table.put(_entry("k", b"old"))
    table.pack()
    table.put(_entry("k", b"new"))
    assert table.get("k").inline == b"new"  # type: ignore[union-attr]
    assert table.get_many(["k"])["k"].inline == b"new"


def test_a_tombstone_hides_a_packed_record_until_a_merge_drops_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packing, "TOMBSTONE_GRACE_S", 0.0)
    table = EntryTable(tmp_path)
    table.put(_entry("k"))
    table.put(_entry("kept"))
    table.pack()
    table.put(_entry("k", status="deleted"))
    table.pack()
    assert table.get("k").status == "deleted"  # type: ignore[union-attr]
    table.pack()  # no loose records and two packs: a full merge
    assert table.get("k") is None
    assert table.get("kept") is not None
    assert len(list((tmp_path / PACKS_DIR).iterdir())) == 1


def test_a_merge_keeps_young_tombstones_so_a_slow_packer_cannot_resurrect_a_key(
    tmp_path: Path,
) -> None:
    table = EntryTable(tmp_path)
    table.put(_entry("k"))
    table.pack()
    table.put(_entry("k", status="deleted"))
    table.pack()
    table.pack()  # full merge: the deletion is younger than the grace period
    assert table.get("k").status == "deleted"  # type: ignore[union-attr]


def test_bulk_writes_become_one_pack_and_many_packs_get_merged(tmp_path: Path) -> None:
    table = EntryTable(tmp_path)
    for batch in range(MERGE_PACKS_OVER + 1):
        table.put_many([_entry(f"b{batch}-{i}") for i in range(10)])
    assert len(list((tmp_path / PACKS_DIR).iterdir())) == 1
    keys = [f"b{b}-{i}" for b in range(MERGE_PACKS_OVER + 1) for i in range(10)]
    assert set(EntryTable(tmp_path).get_many(keys)) == set(keys)


def test_a_reader_sees_packs_published_after_it_first_looked(tmp_path: Path) -> None:
    reader = EntryTable(tmp_path)
    assert reader.get("k") is None
    EntryTable(tmp_path).put_many([_entry("k"), _entry("j")])
    assert reader.get("k") is not None
    assert set(reader.get_many(["k", "j"])) == {"k", "j"}


def test_a_flipped_byte_in_a_loose_record_is_reported_not_returned(tmp_path: Path) -> None:
    table = EntryTable(tmp_path)
    table.put(_entry("k"))
    (path,) = (tmp_path / LOOSE_DIR).iterdir()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptArtifactError, match="checksum"):
        table.get("k")


def test_a_flipped_byte_in_a_packed_record_is_reported_not_returned(tmp_path: Path) -> None:
    table = EntryTable(tmp_path)
    table.put_many([_entry("k", b"x" * 100), _entry("j")])
    (path,) = (tmp_path / PACKS_DIR).iterdir()
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptArtifactError):
        EntryTable(tmp_path).get_many(["k", "j"])


def test_a_read_only_table_refuses_writes_and_creates_nothing(tmp_path: Path) -> None:
    table = EntryTable(tmp_path / "t", read_only=True)
    with pytest.raises(ReadOnlyStoreError, match="read-only"):
        table.put(_entry("k"))
    assert table.get("k") is None
    assert not (tmp_path / "t").exists()


def test_a_writer_packs_loose_records_once_there_are_many(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(entry_table, "PACK_CHECK_EVERY", 4)
    monkeypatch.setattr(entry_table, "PACK_LOOSE_OVER", 10)
    table = EntryTable(tmp_path)
    for i in range(12):
        table.put(_entry(f"k{i}"))
    assert len(table.loose.names()) == 0
    assert len(list((tmp_path / PACKS_DIR).iterdir())) == 1
    assert set(EntryTable(tmp_path).get_many([f"k{i}" for i in range(12)])) == {
        f"k{i}" for i in range(12)
    }


class _PackerDied(BaseException):
    """Stands for a SIGKILL: nothing below it runs, no cleanup."""


def _with_a_stranded_claim(folder: Path) -> EntryTable:
    """A table of ``k`` = b"old" (packed) whose packer died claiming ``k`` = b"new": a
    newer record that landed between the packer's read and its claim, which it would
    have put back had it lived."""
    table = EntryTable(folder)
    table.put(_entry("k", b"old"))
    real_claim = packing._claim_loose

    def claim_after_a_newer_write(table_: EntryTable, item: tp.Any) -> None:
        EntryTable(folder).put(_entry("k", b"new"))
        real_claim(table_, item)

    def die(claimed: object, path: object) -> None:
        raise _PackerDied

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(packing, "_claim_loose", claim_after_a_newer_write)
        patch.setattr(packing, "_put_back", die)
        with pytest.raises(_PackerDied):
            table.pack()
    return table


def _value(folder: Path) -> bytes:
    entry = EntryTable(folder).get("k")
    assert entry is not None
    return entry.inline  # type: ignore[return-value]


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in (folder / LOOSE_DIR).iterdir() if p.name.startswith(".tmp.")]


def test_the_next_packer_puts_back_a_newer_record_a_killed_packer_left_claimed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_a_stranded_claim(tmp_path)
    assert len(_temporaries(tmp_path)) == 1 and _value(tmp_path) == b"old"
    EntryTable(tmp_path).pack()  # too young to be called stranded: could be a live packer's
    assert _value(tmp_path) == b"old"
    monkeypatch.setattr(packing, "STRANDED_AFTER_S", 0.0)
    EntryTable(tmp_path).pack()
    assert _value(tmp_path) == b"new" and not _temporaries(tmp_path)


def test_a_stranded_claim_older_than_the_packed_record_is_left_to_gc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _with_a_stranded_claim(tmp_path)
    table.put(_entry("k", b"newest"))  # written after the claim: the claim is outdated
    table.pack()
    monkeypatch.setattr(packing, "STRANDED_AFTER_S", 0.0)
    EntryTable(tmp_path).pack()
    assert _value(tmp_path) == b"newest" and len(_temporaries(tmp_path)) == 1
