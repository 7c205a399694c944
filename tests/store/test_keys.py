"""Store keys name values, not objects: one key per value in every process, distinct keys
for values that differ in content or type.

Pins the contract of ``exca.store.keys``: ``key_of(v)`` is the xxh3-128 of
``key_bytes(v)``, a canonical type-tagged msgpack encoding in which ``5``, ``5.0``,
``True`` and ``np.int64(5)`` differ, as do a list, tuple, set and frozenset of the same
elements and ``"x"`` and ``b"x"``; dict and set order never matter; NaN is one value
and ``-0.0`` is not ``0.0``; numpy arrays are keyed by dtype, shape and C-order bytes
whatever their memory layout; anything else raises a clear error.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import math
import os
import pathlib
import pickle
import struct
import subprocess
import sys
import uuid
from typing import Any

import msgpack
import numpy as np
import pydantic
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

import exca
from exca.store import keys
from exca.store.keys import key_bytes, key_of


class Color(enum.Enum):
    RED = 1


class Shade(enum.IntEnum):
    RED = 1


@dataclasses.dataclass
class Point:
    x: object
    y: object = 0


@dataclasses.dataclass
class OtherPoint:
    x: object
    y: object = 0


class PointModel(pydantic.BaseModel):
    x: object
    y: object = 0


DISTINCT_GROUPS: dict[str, list[object]] = {
    "five": [5, 5.0, True, np.int64(5), np.int32(5), np.float64(5), "5", b"5", complex(5)],
    "one": [1, 1.0, True, Color.RED, Shade.RED, decimal.Decimal(1), np.bool_(True)],
    "empty": [0, 0.0, -0.0, False, None, "", b"", [], (), set(), frozenset(), {}],
    "pair": [[1, 2], (1, 2), {1, 2}, frozenset({1, 2}), {1: 2}, np.array([1, 2])],
    "text": ["x", b"x", ["x"], ("x",), np.str_("x"), np.bytes_(b"x"), pathlib.Path("x")],
    "nesting": [[1, [2]], [[1, 2]], [[1], 2], [1, 2], ((1,),), (1,)],
    "dicts": [{"a": 1}, {"a": 1.0}, {"a": (1,)}, {("a",): 1}, {b"a": 1}, {"a": 1, "b": None}],
    "time": [dt.datetime(2020, 1, 2), dt.date(2020, 1, 2), "2020-01-02", dt.time(1, 2)],
    "durations": [dt.timedelta(days=1), dt.timedelta(seconds=1), dt.timedelta(0), 0],
    "decimals": [decimal.Decimal("1.0"), decimal.Decimal("1.00"), decimal.Decimal("NaN"), 1.0],
    "ids": [uuid.UUID(int=5), uuid.UUID(int=5).bytes, str(uuid.UUID(int=5))],
    "objects": [Point(1), OtherPoint(1), PointModel(x=1), Point(1.0), Point(1, 2), {"x": 1}],
    "big ints": [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 2**200, -(2**200)],
    "complex": [complex(1, 2), complex(2, 1), (1.0, 2.0), np.complex128(complex(1, 2))],
}


@pytest.mark.parametrize("group", DISTINCT_GROUPS.values(), ids=DISTINCT_GROUPS.keys())
def test_values_that_differ_in_content_or_type_get_distinct_keys(group: list[object]) -> None:
    found = {key_of(v): v for v in group}
    assert len(found) == len(group), [v for v in group if found[key_of(v)] is not v]


def test_key_is_the_xxh3_128_hex_digest_of_the_key_bytes() -> None:
    for value in [item for group in DISTINCT_GROUPS.values() for item in group]:
        assert key_of(value) == xxhash.xxh3_128_hexdigest(key_bytes(value))
        assert len(key_of(value)) == 32 and key_of(value) == key_of(value).lower()


@given(
    st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(blacklist_categories=()))  # lone surrogates included
)
def test_the_fast_path_of_scalars_gives_the_key_of_their_key_bytes(value: object) -> None:
    assert key_of(value) == xxhash.xxh3_128_hexdigest(key_bytes(value))


def test_key_bytes_are_one_msgpack_value_that_msgpack_reencodes_identically() -> None:
    # a tuple of n zeros has an n-byte payload: this crosses every ext header size
    sizes = [0, 1, 2, 3, 4, 8, 15, 16, 17, 255, 256, 65_535, 65_536, 70_000]
    for value in [(0,) * n for n in sizes] + [[1, "a"], {1: 2}, 2**70, np.int8(1)]:
        decoded = msgpack.unpackb(key_bytes(value))
        assert isinstance(decoded, msgpack.ExtType)
        assert msgpack.packb(decoded) == key_bytes(value)


def test_bytes_bytearray_and_memoryview_of_equal_bytes_share_one_key() -> None:
    strided = memoryview(b"axbx")[::2]
    assert key_of(b"ab") == key_of(bytearray(b"ab")) == key_of(memoryview(b"ab"))
    assert key_of(strided) == key_of(b"ab")


def test_subclasses_of_str_and_int_key_as_their_value_but_enums_do_not() -> None:
    class Name(str):
        pass

    class Count(int):
        pass

    assert key_of(Name("x")) == key_of("x") and key_of(Count(3)) == key_of(3)
    assert key_of(Shade.RED) != key_of(1)


def test_dicts_and_sets_ignore_insertion_order() -> None:
    words = [f"word{i}" for i in range(50)]
    assert key_of(dict.fromkeys(words, 1)) == key_of(dict.fromkeys(reversed(words), 1))
    assert key_of(set(words)) == key_of(set(reversed(words)))
    assert key_of(frozenset(words)) == key_of(frozenset(reversed(words)))
    assert key_of({1: "a", "1": "b"}) == key_of({"1": "b", 1: "a"})


def test_nan_is_canonical_and_negative_zero_differs_from_zero() -> None:
    (payload_nan,) = struct.unpack(">d", bytes.fromhex("7ff8000000000123"))
    (negative_nan,) = struct.unpack(">d", bytes.fromhex("fff8000000000000"))
    assert key_of(float("nan")) == key_of(payload_nan) == key_of(negative_nan)
    assert key_of(complex(payload_nan, 1)) == key_of(complex(float("nan"), 1))
    assert key_of(np.float64(negative_nan)) == key_of(np.float64("nan"))
    assert key_of(np.complex64(complex(negative_nan, 0))) == key_of(np.complex64(np.nan))
    assert key_of(-0.0) != key_of(0.0) and key_of(np.float32(-0.0)) != key_of(np.float32(0))
    assert len({key_of(x) for x in [float("inf"), -float("inf"), float("nan")]}) == 3


def test_c_and_fortran_arrays_and_strided_views_of_equal_content_share_one_key() -> None:
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    assert key_of(a) == key_of(np.asfortranarray(a)) == key_of(a.copy())
    view = np.arange(100).reshape(10, 10)[::3, 1::2]
    assert key_of(view) == key_of(np.ascontiguousarray(view))
    assert key_of(a.T) == key_of(np.ascontiguousarray(a.T)) != key_of(a)


def test_non_contiguous_arrays_hashed_in_several_blocks_keep_their_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = np.asfortranarray(np.random.default_rng(0).random((37, 5, 3)))
    expected = key_of(np.ascontiguousarray(a))
    monkeypatch.setattr(keys, "_ARRAY_BLOCK", 100)  # a few rows per block
    assert key_of(a) == expected
    monkeypatch.setattr(keys, "_ARRAY_BLOCK", 1)  # one row per block
    assert key_of(a) == expected


def test_array_dtype_shape_and_field_names_change_the_key() -> None:
    base = np.zeros(6, dtype="<i8")
    variants = [
        base,
        base.astype("<f8"),
        base.astype("<i4"),
        base.astype(">i8"),
        base.reshape(2, 3),
        base.reshape(3, 2),
        base.reshape(1, 6),
        np.zeros((0, 3)),
        np.zeros((3, 0)),
        np.zeros(2, dtype=[("a", "<i8"), ("b", "<i8")]),
        np.zeros(2, dtype=[("b", "<i8"), ("a", "<i8")]),
        np.zeros(6, dtype="M8[s]"),
        np.zeros(6, dtype="m8[s]"),
    ]
    assert len({key_of(v) for v in variants}) == len(variants)


def test_memmapped_array_has_the_key_of_the_array_it_maps(tmp_path: pathlib.Path) -> None:
    a = np.arange(12.0).reshape(3, 4)
    np.save(tmp_path / "a.npy", a)
    assert key_of(np.load(tmp_path / "a.npy", mmap_mode="r")) == key_of(a)


def test_object_arrays_are_keyed_element_by_element() -> None:
    a = np.array([1, "a", None, (2, 3)], dtype=object)
    assert key_of(a) == key_of(a.copy())
    assert key_of(a) != key_of(np.array([1, "a", None, (2, 4)], dtype=object))
    assert key_of(a) != key_of([1, "a", None, (2, 3)])
    assert key_of(a.reshape(2, 2)) != key_of(a)


def test_models_and_dataclasses_are_keyed_by_class_and_field_values() -> None:
    assert key_of(PointModel(x=1, y=2)) == key_of(PointModel(y=2, x=1))
    assert key_of(Point(x=[1], y=Point(2))) == key_of(Point([1], Point(2)))
    assert key_of(Point(x=[1], y=Point(2))) != key_of(Point(x=[1], y=Point(3)))
    assert key_of(PointModel(x=Point(1))) != key_of(PointModel(x=Point(1.0)))


def test_unsupported_types_raise_type_error_naming_the_type_and_the_remedy() -> None:
    class Opaque:
        pass

    with pytest.raises(TypeError, match=r"Opaque.*item_uid\(\)") as info:
        key_of({"a": [0, Opaque()]})
    assert "test_keys" in str(info.value)
    assert "at value['a'][1]" in info.value.__notes__[-1]
    for value in [object(), lambda: 0, np.ma.masked_array([1]), Point]:
        with pytest.raises(TypeError, match=type(value).__qualname__):
            key_of(value)


def test_structured_arrays_with_object_fields_raise_type_error() -> None:
    with pytest.raises(TypeError, match="structured dtype"):
        key_of(np.zeros(2, dtype=[("a", object), ("b", "<i8")]))


@pytest.mark.parametrize("kind", ["list", "dict", "dataclass", "object array", "via tuple"])
def test_a_value_containing_itself_raises_a_clear_value_error(kind: str) -> None:
    outer: Any
    if kind == "list":
        outer = [1]
        outer.append(outer)
    elif kind == "dict":
        outer = {}
        outer["me"] = outer
    elif kind == "dataclass":
        outer = Point(1)
        outer.y = [outer]
    elif kind == "object array":
        outer = np.empty(1, dtype=object)
        outer[0] = outer
    else:
        inner: list[object] = []
        outer = (inner,)
        inner.append(outer)
    with pytest.raises(ValueError, match="recursive value.*contains itself"):
        key_of(outer)


def test_shared_references_that_are_not_cycles_are_fine() -> None:
    shared = [1, 2]
    assert key_of([shared, shared, {"a": shared}]) == key_of([[1, 2], [1, 2], {"a": [1, 2]}])


def test_a_too_deeply_nested_value_raises_value_error_not_recursion_error() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper"):
        key_of(deep)


def test_strings_with_lone_surrogates_are_keyed_distinctly() -> None:
    assert len({key_of("\ud800"), key_of("\udc00"), key_of("?"), key_of(b"\xed\xa0\x80")}) == 4


SAMPLES_SOURCE = """
import numpy as np
words = [f"w{i}" for i in range(40)]
samples = [
    "x", 5, 2**100, 1.5, float("nan"), None, b"x", (1, "a"), [1, [2, 3]],
    set(words), frozenset(words), dict.fromkeys(words, 0), {w: {w} for w in words},
    np.arange(10.0).reshape(2, 5).T, np.int64(3),
]
"""


def test_keys_are_the_same_in_fresh_processes_with_other_hash_seeds() -> None:
    namespace: dict[str, object] = {}
    exec(SAMPLES_SOURCE, namespace)
    expected = [key_of(v) for v in namespace["samples"]]  # type: ignore[attr-defined]
    src = str(pathlib.Path(exca.__file__).parents[1])
    code = SAMPLES_SOURCE + "from exca.store.keys import key_of\nprint(*map(key_of, samples))"
    for seed in ["1", "4242"]:
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": src}
        child = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert child.stdout.split() == expected


# Hypothesis: an independent oracle says which generated values are the same value.
_NANS = [struct.unpack(">d", bytes.fromhex(h))[0] for h in ["7ff8000000000000", "fff8000000000001"]]


def _containers(
    c: st.SearchStrategy[object], h: st.SearchStrategy[object], n: int
) -> st.SearchStrategy[object]:
    return (
        st.lists(c, max_size=n)
        | st.lists(c, max_size=n).map(tuple)
        | st.dictionaries(h, c, max_size=n)
        | st.sets(h, max_size=n)
        | st.frozensets(h, max_size=n)
    )


_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary()
_hashables = st.recursive(
    _scalars, lambda c: st.tuples(c, c) | st.frozensets(c, max_size=3), max_leaves=6
)
_values = st.recursive(_hashables, lambda c: _containers(c, _hashables, 4), max_leaves=16)
# a small world, where equal and nearly equal pairs are common
_tiny_scalars = st.sampled_from(
    [None, False, True, 0, 1, 0.0, -0.0, 1.0, *_NANS, "", "a", b"", b"a"]
)
_tiny_hashables = st.recursive(
    _tiny_scalars, lambda c: st.tuples(c) | st.frozensets(c, max_size=2), max_leaves=3
)
_tiny_values = st.recursive(
    _tiny_hashables, lambda c: _containers(c, _tiny_hashables, 2), max_leaves=4
)


def _oracle(v: object) -> object:
    """The value's identity as a plain tuple: type name and content, NaNs made equal."""
    if isinstance(v, float):
        return ("float", "nan" if math.isnan(v) else struct.pack(">d", v))
    if isinstance(v, list | tuple):
        return (type(v).__name__, tuple(map(_oracle, v)))
    if isinstance(v, set | frozenset):
        return (type(v).__name__, tuple(sorted(map(_oracle, v), key=repr)))
    if isinstance(v, dict):
        pairs = ((_oracle(k), _oracle(x)) for k, x in v.items())
        return ("dict", tuple(sorted(pairs, key=repr)))
    return (type(v).__name__, v)


def _rebuilt(v: object) -> object:
    """A deep copy whose dicts and sets were filled in reverse order."""
    if isinstance(v, list | tuple):
        return type(v)(map(_rebuilt, v))
    if isinstance(v, set | frozenset):
        return type(v)(map(_rebuilt, reversed(list(v))))
    if isinstance(v, dict):
        return {_rebuilt(k): _rebuilt(x) for k, x in reversed(list(v.items()))}
    return v


@given(st.lists(_tiny_values, min_size=2, max_size=12))
def test_generated_values_share_a_key_exactly_when_the_oracle_says_they_are_equal(
    values: list[object],
) -> None:
    pairs = {(key_of(v), _oracle(v)) for v in values}
    assert len(pairs) == len({k for k, _ in pairs}) == len({o for _, o in pairs})


@given(_values)
def test_keys_of_generated_values_are_deterministic_and_order_free(value: object) -> None:
    assert key_of(value) == key_of(value) == key_of(_rebuilt(value))
    assert key_bytes(value) == key_bytes(_rebuilt(value))


@given(st.integers() | st.text() | st.binary())
def test_a_scalar_keys_differently_from_the_same_content_in_other_types(
    x: int | str | bytes,
) -> None:
    variants: list[object] = [x, [x], (x,), {x}, frozenset({x}), {x: None}, [[x]], ((x,),)]
    if isinstance(x, int):
        variants += [str(x), np.int64(x)] if -(2**63) <= x < 2**63 else [str(x)]
        variants += [float(x)] if abs(x) < 2**53 else []
        variants += [bool(x)] if x in (0, 1) else []
    else:
        variants.append(x.encode() if isinstance(x, str) else x.decode("latin-1"))
    assert len({key_of(v) for v in variants}) == len(variants)


@settings(max_examples=4, deadline=None)
@given(st.lists(_values, min_size=1, max_size=30))
def test_keys_of_generated_values_are_the_same_in_a_process_with_another_hash_seed(
    values: list[object],
) -> None:
    src = str(pathlib.Path(exca.__file__).parents[1])
    code = (
        "import pickle, sys\nfrom exca.store.keys import key_of\n"
        "print(*map(key_of, pickle.load(sys.stdin.buffer)))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "777", "PYTHONPATH": src}
    child = subprocess.run(
        [sys.executable, "-c", code],
        input=pickle.dumps(values),
        env=env,
        capture_output=True,
        check=True,
    )
    assert child.stdout.decode().split() == [key_of(v) for v in values]
