"""Contract: a lookup never serves an older packed record in place of a newer loose one
(entry_table's order: the loose records are read first, the packs listed after).

A packer publishes a pack holding a loose record, then removes the loose file. A reader
that listed the packs before that pack was published, and the loose files after the
file was removed, would find neither and serve the key's older packed record: the
packs are listed once the loose files were read. And a loose record the reader cannot
look up (a folder it may not search) is an error, never taken for absent.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from exca.store.codecs.base import Encoded
from exca.store.entries import new_entry
from exca.store.entry_table import EntryTable
from exca.store.layout import LOOSE_DIR

sys.path.insert(0, str(Path(__file__).parent / "_children"))
import sharing_ops as ops  # noqa: E402

NOBODY = 65534


def _put(folder: Path, key: str, value: bytes) -> None:
    EntryTable(folder).put(new_entry(key, "success", "msgpack", 1, Encoded(value)))


def _older_packed_newer_loose(folder: Path) -> None:
    _put(folder, "k", b"old")
    EntryTable(folder).pack()
    _put(folder, "k", b"new")


def _packing_meanwhile(reader: EntryTable, folder: Path) -> None:
    """Make another writer pack ``folder`` right after ``reader`` lists its packs."""
    list_packs = reader.packs.current

    def packed_by_another_writer_meanwhile() -> tuple:
        listed = list_packs()
        EntryTable(folder).pack()  # the newer record moves into a new pack
        return listed

    reader.packs.current = packed_by_another_writer_meanwhile


def test_a_bulk_lookup_sees_a_record_packed_while_it_lists_the_packs(tmp_path: Path) -> None:
    _older_packed_newer_loose(tmp_path)
    reader = EntryTable(tmp_path)
    _packing_meanwhile(reader, tmp_path)
    assert reader.get_many(["k"])["k"].inline == b"new"
    assert not os.listdir(tmp_path / LOOSE_DIR)  # (the packing did happen meanwhile)


def test_a_single_lookup_sees_a_record_packed_just_before_its_loose_read(
    tmp_path: Path,
) -> None:
    _older_packed_newer_loose(tmp_path)
    reader = EntryTable(tmp_path)
    assert reader.packs.current()  # (the older pack is known: its listing is remembered)
    read_loose = reader.loose.read

    def packed_by_another_writer_first(digest: bytes) -> object:
        EntryTable(tmp_path).pack()  # the newer record moves into a new pack
        return read_loose(digest)

    reader.loose.read = packed_by_another_writer_first
    assert reader.get("k").inline == b"new"
    assert not os.listdir(tmp_path / LOOSE_DIR)  # (the packing did happen meanwhile)


def test_a_loose_record_the_reader_cannot_look_up_is_an_error_not_the_older_value() -> None:
    base = ops.traversable_folder("exca-lookup-")
    try:
        namespace = base / "store" / "ns"
        _older_packed_newer_loose(namespace)
        for folder in (base / "store", namespace, namespace / "packs"):
            os.chmod(folder, 0o755)
        os.chmod(namespace / LOOSE_DIR, 0o700)  # this user may not search it
        (outcome,) = ops.run_as(NOBODY, NOBODY, [["lookup", str(base / "store"), "ns", "k"]])
        assert outcome == ["error", "PermissionError", True], outcome
        os.chmod(namespace / LOOSE_DIR, 0o755)
        (outcome,) = ops.run_as(NOBODY, NOBODY, [["lookup", str(base / "store"), "ns", "k"]])
        assert outcome == ["value", repr(b"new")], outcome
    finally:
        shutil.rmtree(base)
