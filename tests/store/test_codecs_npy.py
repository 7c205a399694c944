"""Contract of the ``npy`` codec: every array numpy can save (but object dtype) becomes
one ``.npy`` object and comes back read-only with the same dtype, shape and bytes, as a
memory map or verified in RAM; scalars, subclasses and object arrays are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from exca.store.codecs import get_codec
from exca.store.codecs.testing import arrays, assert_same_value
from exca.store.errors import CodecError
from exca.store.objects import ObjectStore

CODEC = get_codec("npy")
PROPERTY = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path)


@PROPERTY
@given(array=arrays())
def test_any_generated_array_round_trips_as_a_read_only_memory_map(
    array: np.ndarray, store: ObjectStore
) -> None:
    assert CODEC.accepts(array)
    encoded = CODEC.encode(array, store)
    assert encoded.inline is None and [ref.suffix for ref in encoded.objects] == [".npy"]
    loaded = CODEC.decode(encoded, store, CODEC.version)
    assert_same_value(loaded, array)
    assert isinstance(loaded, np.memmap) and not loaded.flags.writeable


@PROPERTY
@given(array=arrays())
def test_array_read_in_ram_is_equal_and_read_only(array: np.ndarray, tmp_path: Path) -> None:
    writer = ObjectStore(tmp_path)
    reader = ObjectStore(tmp_path, keep_in_ram=True, verify_reads="full")
    loaded = CODEC.decode(CODEC.encode(array, writer), reader, CODEC.version)
    assert_same_value(loaded, array)
    assert not loaded.flags.writeable


@pytest.mark.parametrize(
    "array",
    [
        np.asfortranarray(np.arange(12, dtype=">f8").reshape(3, 4)),
        np.arange(10)[::3],
        np.frombuffer(b"abcdef", "V3"),
        np.zeros((2, 0, 3), dtype=[("a", "<i2", (2,)), ("b", [("c", "U1")])]),
        np.array("x", dtype="S1"),
    ],
    ids=["Fortran big-endian", "strided view", "raw bytes", "empty nested structured", "0-d"],
)
def test_array_layouts_round_trip(array: np.ndarray, store: ObjectStore) -> None:
    assert_same_value(CODEC.decode(CODEC.encode(array, store), store, CODEC.version), array)


def test_decoded_memory_map_can_be_stored_again(store: ObjectStore) -> None:
    first = CODEC.encode(np.arange(100), store)
    loaded = CODEC.decode(first, store, CODEC.version)
    assert CODEC.accepts(loaded)
    assert CODEC.encode(loaded, store) == first


def test_numpy_scalar_is_refused_and_sent_to_msgpack(store: ObjectStore) -> None:
    assert not CODEC.accepts(np.float32(1))
    with pytest.raises(CodecError, match="numpy scalar.*cache_type='msgpack'"):
        CODEC.encode(np.float32(1), store)


def test_object_array_is_refused_and_sent_to_pickle(store: ObjectStore) -> None:
    array = np.array([1, "a"], dtype=object)
    assert not CODEC.accepts(array)
    with pytest.raises(CodecError, match="dtype object.*cache_type='pickle'"):
        CODEC.encode(array, store)


def test_array_subclass_is_refused_rather_than_stripped(store: ObjectStore) -> None:
    masked = np.ma.masked_array([1, 2], mask=[False, True])
    assert not CODEC.accepts(masked)
    with pytest.raises(CodecError, match="MaskedArray.*np.asarray"):
        CODEC.encode(masked, store)


def test_non_array_is_refused(store: ObjectStore) -> None:
    with pytest.raises(CodecError, match="got list"):
        CODEC.encode([1, 2], store)


def test_structured_field_name_beyond_latin1_round_trips(store: ObjectStore) -> None:
    array = np.zeros(2, dtype=[("Ā", "?")])
    assert_same_value(CODEC.decode(CODEC.encode(array, store), store, CODEC.version), array)
