"""Contract of the ``msgpack`` codec: JSON-like and extended values come back with their
exact types (tuples, sets, big ints, dates, numpy scalars and small arrays), inline when
small and as one verified object otherwise; anything else is refused, never altered."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from enum import IntEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from exca.store.codecs import get_codec
from exca.store.codecs._common import INLINE_LIMIT
from exca.store.codecs._packable import MAX_DEPTH, MAX_SET_DEPTH
from exca.store.codecs.base import Encoded
from exca.store.codecs.msgpack_ext import packb, unpackb
from exca.store.codecs.testing import assert_same_value, msgpack_values, numpy_scalars
from exca.store.errors import CodecError, CorruptArtifactError, FormatVersionError
from exca.store.objects import ObjectStore

CODEC = get_codec("msgpack")
PROPERTY = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path)


def round_trip(value: Any, store: ObjectStore) -> Any:
    return CODEC.decode(CODEC.encode(value, store), store, CODEC.version)


class Color(IntEnum):
    RED = 1


EXACT_VALUES = {
    "tuple": (1, "a", (2,)),
    "set": {1, "a", b"b", None},
    "frozenset": frozenset({(1, 2), 3.5}),
    "int above 2**64": 2**64,
    "int below -2**63": -(2**100) - 1,
    "complex": complex(1.5, -0.0),
    "naive datetime": dt.datetime(2024, 2, 29, 23, 59, 59, 999_999),
    "datetime in an IANA zone, second fold": dt.datetime(
        2023, 10, 29, 2, 30, tzinfo=ZoneInfo("Europe/Paris"), fold=1
    ),
    "datetime at a named fixed offset": dt.datetime(
        2020, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5, microseconds=1), "X")
    ),
    "utc time": dt.time(12, 0, 1, 5, tzinfo=dt.UTC),
    "date": dt.date(1, 1, 1),
    "negative timedelta": dt.timedelta(days=-1, microseconds=3),
    "float32 scalar": np.float32(0.1),
    "big-endian int scalar": np.array(7, ">i4")[()],
    "datetime64 scalar": np.datetime64("NaT", "ms"),
    "structured scalar": np.array((1, b"ab"), "i2,S3")[()],
    "unicode scalar": np.str_("héllo"),
    "non-str dict keys": {1: "a", (2, "b"): None, b"k": 1.5, None: [], 2.5: {}},
    "Fortran-ordered small array": np.asfortranarray(np.arange(6, dtype="<u2").reshape(2, 3)),
    "structured small array": np.zeros(3, dtype=[("a", ">f4", (2,)), ("b", "U2")]),
    "0-d and empty arrays": [np.array(1.5), np.zeros((0, 3), "c8")],
    "raw-bytes array and scalar": [np.frombuffer(b"abcdef", "V3"), np.void(b"\x00\x01")],
    "lone surrogate in str": "\ud800x",
}


@pytest.mark.parametrize("value", EXACT_VALUES.values(), ids=EXACT_VALUES.keys())
def test_value_comes_back_with_its_exact_type(value: Any, store: ObjectStore) -> None:
    assert CODEC.accepts(value)
    assert_same_value(round_trip(value, store), value)


@PROPERTY
@given(value=msgpack_values())
def test_any_generated_value_round_trips_exactly(value: Any, store: ObjectStore) -> None:
    assert CODEC.accepts(value)
    assert_same_value(round_trip(value, store), value)


@PROPERTY
@given(value=numpy_scalars())
def test_numpy_scalars_keep_their_dtype(value: np.generic, store: ObjectStore) -> None:
    assert_same_value(round_trip(value, store), value)


def test_small_payload_is_inline_and_stores_no_object(store: ObjectStore) -> None:
    encoded = CODEC.encode({"a": list(range(100))}, store)
    assert encoded.inline is not None and encoded.objects == ()
    assert not (store.root / "objects").exists()


def test_large_payload_becomes_one_msgpack_object(store: ObjectStore) -> None:
    value = ["x" * 1000] * (INLINE_LIMIT // 1000 + 1)
    encoded = CODEC.encode(value, store)
    assert encoded.inline is None
    assert [ref.suffix for ref in encoded.objects] == [".msgpack"]
    assert round_trip(value, store) == value


def test_same_set_encodes_to_the_same_bytes_in_every_process() -> None:
    code = (
        "from exca.store.codecs.msgpack_ext import packb;"
        "print(packb({'alpha', 'beta', 'gamma', frozenset({'x', 'y', 'z'})}).hex())"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in (1, 2, 3)
    }
    assert len(outputs) == 1


def nest(make: Callable[[Any], Any], depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = make(value)
    return value


NESTINGS = {
    "lists": (lambda v: [v], MAX_DEPTH),
    "tuples": (lambda v: (v, 1), MAX_DEPTH),
    "dicts": (lambda v: {"k": v}, MAX_DEPTH),
    "frozensets": (lambda v: frozenset([v, 1]), MAX_SET_DEPTH),
    "frozensets in tuples": (lambda v: (frozenset([v]),), MAX_SET_DEPTH),
}


@pytest.mark.parametrize(("make", "depth"), NESTINGS.values(), ids=NESTINGS.keys())
def test_deepest_accepted_nesting_round_trips_on_a_small_thread_stack(
    make: Callable[[Any], Any], depth: int
) -> None:
    value, results = nest(make, depth), []

    def work() -> None:  # a crash here (C stack overflow) would kill the interpreter
        results.append(CODEC.decode(CODEC.encode(value, writer=None), None, CODEC.version))

    previous = threading.stack_size(256 * 1024)
    try:
        thread = threading.Thread(target=work)
        thread.start()
    finally:
        threading.stack_size(previous)
    thread.join(timeout=20)
    assert results == [value]
    assert CODEC.accepts(value) and not CODEC.accepts(make(value))


REFUSED = {
    "bytearray": bytearray(b"x"),
    "IntEnum member": Color.RED,
    "OrderedDict": OrderedDict(a=1),
    "object-dtype array": np.array([1, None], dtype=object),
    "array above the small size": np.zeros(1000),
    "custom object in a list": [1, object()],
    "datetime with a non-standard tzinfo": dt.datetime(2020, 1, 1, tzinfo=dt.tzinfo()),
    "reference cycle": (cycle := []),
}
cycle.append(cycle)


@pytest.mark.parametrize("value", REFUSED.values(), ids=REFUSED.keys())
def test_value_that_would_change_type_is_not_accepted(value: Any) -> None:
    assert not CODEC.accepts(value)


def test_encoding_a_bytearray_is_refused_with_its_location(store: ObjectStore) -> None:
    with pytest.raises(CodecError, match=r"value\['a'\]\[1\] \(bytearray\).*pickle"):
        CODEC.encode({"a": [1, bytearray(b"x")]}, store)


def test_explicit_msgpack_stores_a_large_array_inline_in_the_payload(store: ObjectStore) -> None:
    value = {"big": np.arange(10_000, dtype="i8")}
    assert not CODEC.accepts(value)
    assert_same_value(round_trip(value, store), value)


TAG = msgpack.ExtType(1, b"")  # the tuple tag
GARBLED = {
    "invalid msgpack": b"\xc1",
    "trailing bytes": msgpack.packb(1) + b"\x00",
    "tag out of first place": msgpack.packb([1, TAG]),
    "tag outside any list": msgpack.packb({"a": TAG}),
    "tag with a payload": msgpack.packb([msgpack.ExtType(1, b"x")]),
    "datetime missing fields": msgpack.packb([msgpack.ExtType(6, b""), 2020]),
    "array of the wrong size": msgpack.packb([msgpack.ExtType(11, b""), "<i4", [2], "C", b"x"]),
    "unhashable set item": msgpack.packb([msgpack.ExtType(2, b""), [1]]),
}


@pytest.mark.parametrize("data", GARBLED.values(), ids=GARBLED.keys())
def test_garbled_inline_payload_is_reported_corrupt(data: bytes, store: ObjectStore) -> None:
    with pytest.raises(CorruptArtifactError, match="codec 'msgpack'"):
        CODEC.decode(Encoded(inline=data), store, CODEC.version)


def test_unknown_extension_type_is_reported_corrupt(store: ObjectStore) -> None:
    data = msgpack.packb(msgpack.ExtType(99, b""))
    with pytest.raises(CorruptArtifactError, match="unknown msgpack extension type 99"):
        CODEC.decode(Encoded(inline=data), store, CODEC.version)


def test_array_reference_outside_nested_payload_is_reported_corrupt() -> None:
    data = packb({"a": np.zeros(1000)}, store_array=lambda array: 0)
    with pytest.raises(ValueError, match="outside a nested-codec payload"):
        unpackb(data)


def test_entry_from_a_newer_codec_version_is_refused(store: ObjectStore) -> None:
    with pytest.raises(FormatVersionError, match="upgrade exca"):
        CODEC.decode(CODEC.encode(1, store), store, CODEC.version + 1)


def test_entry_with_an_unexpected_shape_is_reported_corrupt(store: ObjectStore) -> None:
    ref = store.put_bytes(b"\x01", ".msgpack")
    with pytest.raises(CorruptArtifactError, match="exactly one object"):
        CODEC.decode(Encoded(inline=b"\x01", objects=(ref,)), store, CODEC.version)


GOLDEN_VALUE = {
    "tuple": (1, "a"),
    "frozenset": frozenset({1, 2}),
    "big": 2**70,
    "complex": 1 + 2j,
    "datetime": dt.datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
    "date": dt.date(2020, 1, 2),
    "time": dt.time(1, 2, 3),
    "timedelta": dt.timedelta(1, 2, 3),
    "float32": np.float32(1.5),
    "array": np.arange(3, dtype="<i2"),
    2: None,
}
# Stored entries hold these bytes: a change here breaks every store written before it.
GOLDEN_HEX = (
    "8ba57475706c6593c7000101a161a966726f7a656e73657493c700030102a3626967c70904400000000000"
    "000000a7636f6d706c6578d805000000000000f03f0000000000000040a86461746574696d659ac70006cd"
    "07e4010203040506009200a3555443a46461746592c70007ce000b4092a474696d6597c700080102030000"
    "c0a974696d6564656c746194c70009010203a7666c6f6174333293c7000aa33c6634c4040000c03fa56172"
    "72617995c7000ba33c69329103a143c40600000100020002c0"
)


def test_encoding_format_stays_the_same_forever() -> None:
    assert packb(GOLDEN_VALUE).hex() == GOLDEN_HEX
    assert_same_value(unpackb(bytes.fromhex(GOLDEN_HEX)), GOLDEN_VALUE)
