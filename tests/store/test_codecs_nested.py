"""Contract of the ``nested`` codec: dicts, lists and tuples mixing plain values and
arrays round-trip exactly; each large array is one ``.npy`` object read back as a
read-only memory map, small arrays and the rest travel as extended msgpack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from exca.store.codecs import get_codec
from exca.store.codecs._common import INLINE_LIMIT, SMALL_ARRAY_BYTES
from exca.store.codecs.base import Encoded
from exca.store.codecs.msgpack_ext import packb
from exca.store.codecs.testing import array_dtypes, assert_same_value, msgpack_values
from exca.store.errors import CodecError, CorruptArtifactError
from exca.store.objects import ObjectStore

CODEC = get_codec("nested")
PROPERTY = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@st.composite
def large_arrays(draw: st.DrawFn) -> np.ndarray:
    """1-d arrays just above the small-array size, of any dtype ``npy`` stores."""
    dtype = draw(array_dtypes())
    length = SMALL_ARRAY_BYTES // max(1, dtype.itemsize) + 1 + draw(st.integers(0, 20))
    return draw(hnp.arrays(dtype, length))


LARGE_ARRAYS = large_arrays()
CHILDREN = msgpack_values(max_leaves=5) | LARGE_ARRAYS
NESTED = st.dictionaries(
    st.text(max_size=3),
    CHILDREN | st.lists(CHILDREN, max_size=3) | st.lists(CHILDREN, max_size=3).map(tuple),
    max_size=4,
)


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path)


def round_trip(value: Any, store: ObjectStore) -> Any:
    return CODEC.decode(CODEC.encode(value, store), store, CODEC.version)


def large_arrays_in(value: Any) -> list[np.ndarray]:
    if isinstance(value, dict):
        return [array for item in value.values() for array in large_arrays_in(item)]
    if isinstance(value, (list, tuple)):
        return [array for item in value for array in large_arrays_in(item)]
    if isinstance(value, np.ndarray) and value.nbytes > SMALL_ARRAY_BYTES:
        return [value]
    return []


@PROPERTY
@given(value=NESTED)
def test_any_generated_structure_round_trips_exactly(value: Any, store: ObjectStore) -> None:
    assert CODEC.accepts(value)
    encoded = CODEC.encode(value, store)
    assert len(encoded.objects) == len(large_arrays_in(value))
    loaded = CODEC.decode(encoded, store, CODEC.version)
    assert_same_value(loaded, value)
    assert all(isinstance(array, np.memmap) for array in large_arrays_in(loaded))


def test_large_arrays_are_memory_mapped_and_small_ones_inline(store: ObjectStore) -> None:
    value = {"big": np.arange(1000.0), "small": np.arange(3), "meta": ("run", 1)}
    encoded = CODEC.encode(value, store)
    assert encoded.inline is not None
    assert [ref.suffix for ref in encoded.objects] == [".npy"]
    loaded = CODEC.decode(encoded, store, CODEC.version)
    assert isinstance(loaded["big"], np.memmap) and not loaded["big"].flags.writeable
    assert type(loaded["small"]) is np.ndarray
    assert_same_value(loaded, value)


def test_array_read_in_ram_when_the_reader_keeps_values_in_ram(tmp_path: Path) -> None:
    value = [np.arange(1000.0)]
    encoded = CODEC.encode(value, ObjectStore(tmp_path))
    loaded = CODEC.decode(encoded, ObjectStore(tmp_path, keep_in_ram=True), CODEC.version)
    assert not isinstance(loaded[0], np.memmap)
    assert_same_value(loaded, value)


def test_array_appearing_twice_is_stored_once_and_read_back_shared(store: ObjectStore) -> None:
    array = np.arange(2000)
    encoded = CODEC.encode({"a": array, "b": [array]}, store)
    assert len(encoded.objects) == 1
    loaded = CODEC.decode(encoded, store, CODEC.version)
    assert loaded["a"] is loaded["b"][0]


def test_large_structure_goes_to_a_last_msgpack_object(store: ObjectStore) -> None:
    value = {"array": np.arange(1000), "labels": ["x" * 100] * (INLINE_LIMIT // 100)}
    encoded = CODEC.encode(value, store)
    assert encoded.inline is None
    assert [ref.suffix for ref in encoded.objects] == [".npy", ".msgpack"]
    assert_same_value(CODEC.decode(encoded, store, CODEC.version), value)


@pytest.mark.parametrize(
    "value",
    [np.arange(1000), {"a": np.array([None])}, {"a": object()}, {1, 2}],
    ids=["bare array", "object array inside", "custom object inside", "set at the top"],
)
def test_value_outside_the_contract_is_not_accepted_and_not_encoded(
    value: Any, store: ObjectStore
) -> None:
    assert not CODEC.accepts(value)
    with pytest.raises(CodecError, match="codec 'nested'"):
        CODEC.encode(value, store)


def test_reference_to_a_missing_array_is_reported_corrupt(store: ObjectStore) -> None:
    data = packb([np.arange(1000)], store_array=lambda array: 3)
    with pytest.raises(CorruptArtifactError, match="array reference 3 outside"):
        CODEC.decode(Encoded(inline=data), store, CODEC.version)


def test_entry_without_payload_is_reported_corrupt(store: ObjectStore) -> None:
    with pytest.raises(CorruptArtifactError, match="neither an inline payload nor objects"):
        CODEC.decode(Encoded(inline=None), store, CODEC.version)
