"""Contract of bulk reads: ``Namespace.load_many``, ``decode_entries``, ``unpackb_many`` and
``Pack.find_many`` give exactly what their one-at-a-time forms give, values and errors."""

from __future__ import annotations

import typing as tp
from pathlib import Path

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exca.store import Store
from exca.store.codecs import get_codec
from exca.store.codecs.base import Encoded, ObjectRef
from exca.store.codecs.msgpack_ext import packb, unpackb, unpackb_many
from exca.store.codecs.testing import assert_same_value, msgpack_values
from exca.store.entries import (
    ENTRY_FORMAT_VERSION,
    decode_entries,
    decode_entry,
    encode_entry,
    inline_payloads,
    key_digest,
    may_be_tombstones,
    new_entry,
)
from exca.store.entry_map import EntryMap, decoded
from exca.store.entry_table import EntryTable
from exca.store.errors import CorruptArtifactError, FormatVersionError
from exca.store.layout import object_path
from exca.store.packs import Pack, build_pack

MIXED_VALUES: dict[str, tp.Any] = {
    "float": 1.5,
    "dict": {"a": [1, 2], 3: None},  # an int map key: not plain msgpack
    "tuple": (1, "x"),  # a tagged document
    "large": list(range(30_000)),  # a payload stored as an object
    "array": np.arange(5000, dtype=np.float32),  # npy: an object, memory-mapped
    "text": "surrogate \udc80",
    "object": {1, 2, 3},
}


def _stored(tmp_path: Path, values: dict[str, tp.Any]) -> tuple[tp.Any, list[tp.Any]]:
    namespace = Store(tmp_path).namespace("values")
    for key, value in values.items():
        namespace.put(key, value)
    namespace.put_error("failed", ValueError("boom"))
    found = namespace.entries([*values, "failed"])
    return namespace, [found[key] for key in [*values, "failed"]]


@pytest.mark.parametrize("keep_in_ram", [False, True])
def test_load_many_gives_the_values_load_gives_in_order(tmp_path: Path, keep_in_ram: bool) -> None:
    namespace, entries = _stored(tmp_path, MIXED_VALUES)
    entries = entries + entries[:3]  # repeated entries and interleaved codecs
    values = namespace.load_many(entries, keep_in_ram=keep_in_ram)
    expected = [namespace.load(entry, keep_in_ram=keep_in_ram) for entry in entries]
    assert len(values) == len(expected)
    for value, reference in zip(values, expected, strict=True):
        if isinstance(reference, BaseException):  # an error entry: its exception
            assert type(value) is type(reference) and value.args == reference.args
        else:
            assert_same_value(value, reference)
    assert namespace.load_many([]) == []


def _message(call: tp.Callable[[], tp.Any]) -> tuple[type[BaseException], str]:
    with pytest.raises(Exception) as info:
        call()
    return type(info.value), str(info.value)


@pytest.mark.parametrize(
    "payload",
    [b"\xc1", packb(1) + b"\x00", msgpack.packb([msgpack.ExtType(6, b""), 2020]), b""],
    ids=["invalid", "trailing bytes", "garbled tag", "empty"],
)
def test_a_damaged_inline_value_raises_in_load_many_as_in_load(
    tmp_path: Path, payload: bytes
) -> None:
    namespace, entries = _stored(tmp_path, {"a": 1.0, "b": 2.0, "c": 3.0})
    damaged = entries[1]._replace(inline=payload)
    block = [entries[0], damaged, entries[2]]
    error = _message(lambda: namespace.load(damaged))
    assert error[0] is CorruptArtifactError
    assert _message(lambda: namespace.load_many(block)) == error


def test_a_damaged_object_raises_in_load_many_as_in_load(tmp_path: Path) -> None:
    namespace, entries = _stored(tmp_path, {"small": 1, "large": list(range(30_000))})
    [ref] = entries[1].objects
    path = object_path(tmp_path, ref.digest, ref.suffix)
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:100])
    error = _message(lambda: namespace.load(entries[1]))
    assert error[0] is CorruptArtifactError
    assert _message(lambda: namespace.load_many(entries[:2])) == error


def test_an_entry_of_a_newer_codec_version_raises_in_load_many_as_in_load(tmp_path: Path) -> None:
    namespace, entries = _stored(tmp_path, {"a": 1.0})
    newer = entries[0]._replace(codec_version=99)
    error = _message(lambda: namespace.load(newer))
    assert error[0] is FormatVersionError
    assert _message(lambda: namespace.load_many([entries[0], newer])) == error


@settings(max_examples=50, deadline=None)
@given(values=st.lists(msgpack_values(), max_size=6))
def test_unpackb_many_gives_what_unpackb_gives(values: list[tp.Any]) -> None:
    payloads = [packb(value) for value in values]
    for back, value in zip(unpackb_many(payloads), values, strict=True):
        assert_same_value(back, value)
    codec = get_codec("msgpack")
    assert len(codec.decode_inline_many(payloads, codec.version)) == len(values)


def test_unpackb_many_raises_the_first_error_unpackb_raises() -> None:
    good, tagged, bad = packb(1), packb((1, 2)), b"\xc1"
    with pytest.raises(Exception) as expected:
        unpackb(bad)
    for payloads in ([good, bad, tagged], [tagged, bad, good], [bad]):
        with pytest.raises(type(expected.value)):
            unpackb_many(payloads)


def _record(key: str, **fields: tp.Any) -> bytes:
    objects = fields.pop("objects", ())
    entry = new_entry(key, "success", "msgpack", 1, Encoded(b"\x01", objects), **fields)
    return encode_entry(entry)


def test_decode_entries_gives_what_decode_entry_gives() -> None:
    ref = ObjectRef("ab" * 16, 10, ".npy")
    records = [_record(f"k{i}", duration=0.5, error_text=None) for i in range(150)]
    records[70] = _record("with objects", objects=(ref,))
    records[71] = msgpack.packb([1, "short", "success", "msgpack", 1, b"", [], 1.0])
    assert decode_entries(records, "here") == [decode_entry(r, "here") for r in records]
    assert decode_entries(records[:3], "here") == [decode_entry(r, "here") for r in records[:3]]


@pytest.mark.parametrize(
    ("damage", "error"),
    [
        (b"\xc1", CorruptArtifactError),
        (msgpack.packb(5), CorruptArtifactError),
        (msgpack.packb([1, "k"]), CorruptArtifactError),
        (msgpack.packb([ENTRY_FORMAT_VERSION + 1, "k"]), FormatVersionError),
    ],
)
def test_decode_entries_raises_as_decode_entry(damage: bytes, error: type[Exception]) -> None:
    records = [_record("a"), damage, _record("b")]
    expected = _message(lambda: decode_entry(damage, "here"))
    assert expected[0] is error
    assert _message(lambda: decode_entries(records, "here")) == expected


@pytest.mark.parametrize("fillers", [0, 500])  # a dense and a sparse search of the pack
def test_find_many_finds_keys_sharing_their_first_eight_bytes(tmp_path: Path, fillers: int) -> None:
    # crafted digests: a real collision of 64 bits never happens in a test
    digests = [bytes([1] * 8 + [i] * 8) for i in (3, 1, 2)] + [bytes([0] * 15 + [1])]
    others = [key_digest(f"filler{i}") for i in range(fillers)]
    records = [(digest, digest * 2) for digest in digests + others]
    path = tmp_path / "crafted.pack"
    path.write_bytes(build_pack(records))
    pack = Pack.open(path)
    absent = [bytes([1] * 8 + [9] * 8), bytes([1] * 8 + [0] * 8), bytes([255] * 16)]
    positions, found, damaged = pack.find_many(digests + absent)
    assert positions == [0, 1, 2, 3] and damaged == []
    assert found == [digest * 2 for digest in digests]


def test_find_many_reports_a_record_that_does_not_match_its_checksum_and_serves_the_rest(
    tmp_path: Path,
) -> None:
    digests = [key_digest(f"k{i}") for i in range(20)]
    records = [(digest, b"record %d" % i) for i, digest in enumerate(digests)]
    data = bytearray(build_pack(records))
    data[-3] ^= 0xFF  # in the record stored last: the largest digest's
    path = tmp_path / "damaged.pack"
    path.write_bytes(bytes(data))
    last = digests.index(max(digests))
    positions, found, damaged = Pack.open(path).find_many(digests)
    assert damaged == [last] and positions == [i for i in range(20) if i != last]
    assert found == [records[i][1] for i in positions]


def test_get_many_over_several_chunks_and_packs_gives_what_get_gives(tmp_path: Path) -> None:
    table = EntryTable(tmp_path)
    keys = [f"key{i}" for i in range(2500)]
    for part in (keys[:1500], keys[1000:]):  # two packs, overlapping: the newest wins
        table.put_many([new_entry(k, "success", "msgpack", 1, Encoded(k.encode())) for k in part])
    table.put(new_entry("key5", "deleted", "", 0, Encoded(None)))  # a loose tombstone
    fresh = EntryTable(tmp_path)
    wanted = [*reversed(keys), "absent"]
    assert fresh.get_many(wanted) == {k: e for k in wanted if (e := fresh.get(k)) is not None}
    store_entries = Store(tmp_path / "store").namespace("n")
    assert store_entries.entries([]) == {}


def _put_packed(table: EntryTable, entries: list[tp.Any]) -> None:
    table.put_many(entries)  # one pack per call


def test_find_keeps_records_undecoded_until_read_and_equals_entries(tmp_path: Path) -> None:
    namespace = Store(tmp_path).namespace("n")
    with namespace.batch():
        for i in range(40):
            namespace.put(f"k{i}", i)
    namespace.delete("k3")
    namespace.pack()  # the tombstone of k3 goes into a pack too
    keys = [f"k{i}" for i in range(45)]
    found = namespace.find(keys)
    assert set(found) == {f"k{i}" for i in range(40)} - {"k3"} and "k3" not in found
    assert any(type(item) is bytes for item in found._items.values())  # lazily decoded
    assert found.decoded() == namespace.entries(keys) == {k: found[k] for k in found}
    assert list(found.get_many(["k5", "k3", "k7"])) == [found["k5"], None, found["k7"]]
    assert [namespace.load(e) for e in found.get_many(["k1", "k2"])] == [1, 2]  # type: ignore[arg-type]


def test_entry_map_select_update_and_discard_leave_records_undecoded(tmp_path: Path) -> None:
    namespace = Store(tmp_path).namespace("n")
    with namespace.batch():
        for i in range(20):
            namespace.put(f"k{i}", i)
    found = namespace.find([f"k{i}" for i in range(20)])
    part = found.select(["k1", "k2", "absent"])
    assert sorted(part) == ["k1", "k2"] and type(part._items["k1"]) is bytes
    merged = type(found)()
    merged.update(part)
    merged.discard("k2")
    merged.discard("absent")
    assert list(merged) == ["k1"] and type(merged._items["k1"]) is bytes
    assert merged["k1"] == found["k1"] and type(merged._items["k1"]) is not bytes


def test_a_record_holding_another_key_is_an_error_when_read_and_absent_from_entries(
    tmp_path: Path,
) -> None:
    table = EntryTable(tmp_path / "t")
    _put_packed(
        table, [new_entry(f"k{i}", "success", "msgpack", 1, Encoded(b"\x01")) for i in range(3)]
    )
    found = table.find_many(["k0", "k1"], {})
    found["k1"] = found["k0"]  # the record of k0 under k1's name: as a damaged store would
    emap = EntryMap(found, where="here")
    with pytest.raises(CorruptArtifactError, match="holds key 'k0'"):
        emap["k1"]
    with pytest.raises(CorruptArtifactError, match="holds key 'k0'"):
        emap.get_many(["k0", "k1"])
    assert sorted(decoded(found, "here")) == ["k0"]


@pytest.mark.parametrize("count", [3, 400])  # sparse and dense lookups of one pack
def test_search_finds_tombstones_and_the_newest_record_across_packs(
    tmp_path: Path, count: int
) -> None:
    table = EntryTable(tmp_path / "t")
    keys = [f"key{i}" for i in range(count)]
    old = [new_entry(k, "success", "msgpack", 1, Encoded(b"old")) for k in keys]
    _put_packed(
        table,
        old + [new_entry(f"other{i}", "success", "msgpack", 1, Encoded(b"o")) for i in range(1000)],
    )
    _put_packed(table, [new_entry(keys[0], "deleted", "", 0, Encoded(None))])
    _put_packed(table, [new_entry(keys[-1], "success", "msgpack", 1, Encoded(b"new"))])
    fresh = EntryTable(tmp_path / "t")
    found = fresh.find_many(keys, {})
    entries = fresh.get_many(keys)
    assert entries == {k: fresh.get(k) for k in keys}
    assert entries[keys[0]].status == "deleted" and entries[keys[-1]].inline == b"new"
    assert type(found[keys[0]]) is not bytes  # a tombstone is decoded at once
    namespace = Store(tmp_path).namespace("t")
    assert keys[0] not in namespace.find(keys) and len(namespace.find(keys)) == count - 1


def test_load_inline_gives_the_values_of_small_entries_and_none_for_any_other(
    tmp_path: Path,
) -> None:
    namespace = Store(tmp_path).namespace("n")
    values: dict[str, tp.Any] = {f"k{i}": {"i": i, "t": (i, "x")} for i in range(150)}
    with namespace.batch():
        for key, value in values.items():
            namespace.put(key, value)
        namespace.put("large", list(range(30_000)))  # an object
        namespace.put("pickled", {1, 2}, codec="pickle")
        namespace.put_error("failed", ValueError("boom"))
    keys = list(values)
    found = namespace.find([*keys, "large", "pickled", "failed"])
    loaded = namespace.load_inline(found, keys)
    assert loaded is not None
    for back, key in zip(loaded, keys, strict=True):
        assert_same_value(back, namespace.load(found[key]))
    for other in ("absent", "large", "pickled", "failed"):
        assert namespace.load_inline(found, [keys[0], other]) is None
    found[keys[1]]  # decoded (and kept) on this read: no longer a record
    assert namespace.load_inline(found, keys[:3]) is None
    assert namespace.load_inline(found, []) is None


def test_load_inline_raises_for_a_damaged_value_as_load_does(tmp_path: Path) -> None:
    namespace = Store(tmp_path).namespace("n")
    entries = [new_entry(f"k{i}", "success", "msgpack", 1, Encoded(packb(i))) for i in range(5)]
    entries[3] = entries[3]._replace(inline=b"\xc1")  # its record's checksum holds
    namespace._table.put_many(entries)
    found = namespace.find([e.key for e in entries])
    error = _message(lambda: namespace.load(found["k3"]))
    assert error[0] is CorruptArtifactError
    found = namespace.find([e.key for e in entries])
    assert _message(lambda: namespace.load_inline(found, [e.key for e in entries])) == error


def test_inline_payloads_refuses_records_of_another_shape() -> None:
    good = [_record(f"k{i}") for i in range(3)]
    keys = ["k0", "k1", "k2"]
    assert inline_payloads(good, keys) == ("msgpack", 1, [b"\x01"] * 3)
    newer = msgpack.packb([ENTRY_FORMAT_VERSION + 1, *msgpack.unpackb(good[0])[1:]])
    for records, wanted in [
        (good, ["k0", "k1", "other"]),  # a record holding another key
        ([good[0], b"\xc1", good[2]], keys),  # not msgpack
        ([good[0], msgpack.packb([1, "k1"]), good[2]], keys),  # too few fields
        ([newer, good[1], good[2]], keys),  # a newer format
        ([_record("k0", objects=(ObjectRef("ab" * 16, 1, ".npy"),)), *good[1:]], keys),
    ]:
        assert inline_payloads(records, wanted) is None


@pytest.mark.parametrize("names", [["k1", "k2", "k3"], ["k1", "key2", "kéy3"]])
def test_may_be_tombstones_finds_every_tombstone_record(names: list[str]) -> None:
    alive = [_record(name) for name in names]
    dead = encode_entry(new_entry(names[1], "deleted", "", 0, Encoded(None)))
    assert not may_be_tombstones(alive, names)
    assert may_be_tombstones([alive[0], dead, alive[2]], names)
    assert not may_be_tombstones([], [])
