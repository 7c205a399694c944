"""Contract of the ``zarr`` codec: numpy and zarr arrays of bool, numeric and datetime
dtype become a zarr v3 directory object and come back as a lazy, read-only
``zarr.Array`` with the same values; other dtypes and values are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from exca.store.codecs import get_codec
from exca.store.codecs.testing import arrays
from exca.store.codecs.zarr_codec import chunk_shape
from exca.store.errors import CodecError
from exca.store.objects import ObjectStore

CODEC = get_codec("zarr")
PROPERTY = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
ZARR_DTYPES = (
    hnp.boolean_dtypes()
    | hnp.integer_dtypes(endianness="?")
    | hnp.unsigned_integer_dtypes(endianness="?")
    | hnp.floating_dtypes(endianness="?")
    | hnp.complex_number_dtypes(endianness="?")
    | hnp.datetime64_dtypes(endianness="?")
    | hnp.timedelta64_dtypes(endianness="?")
)


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path)


def assert_same_values(loaded: zarr.Array, array: np.ndarray) -> None:
    """Same shape, dtype up to byte order, and bitwise-equal values."""
    assert loaded.shape == array.shape
    assert loaded.dtype == array.dtype.newbyteorder("=")
    values = np.asarray(loaded[...], dtype=loaded.dtype)
    assert values.tobytes() == np.ascontiguousarray(array, dtype=loaded.dtype).tobytes()


@PROPERTY
@given(array=arrays(ZARR_DTYPES, max_side=4))
def test_any_generated_array_comes_back_as_a_read_only_zarr_array(
    array: np.ndarray, store: ObjectStore
) -> None:
    assert CODEC.accepts(array)
    encoded = CODEC.encode(array, store)
    assert encoded.inline is None and [ref.suffix for ref in encoded.objects] == [".zarr"]
    loaded = CODEC.decode(encoded, store, CODEC.version)
    assert isinstance(loaded, zarr.Array) and loaded.read_only
    assert_same_values(loaded, array)


def test_zarr_array_input_is_copied_with_its_chunks(store: ObjectStore, tmp_path: Path) -> None:
    source = zarr.create_array(tmp_path / "source.zarr", shape=(10, 6), chunks=(3, 2), dtype="i4")
    source[...] = np.arange(60, dtype="i4").reshape(10, 6)
    assert CODEC.accepts(source)
    loaded = CODEC.decode(CODEC.encode(source, store), store, CODEC.version)
    assert loaded.chunks == (3, 2)
    assert_same_values(loaded, source[...])


def test_decoded_array_is_lazy_and_refuses_writes(store: ObjectStore) -> None:
    array = np.arange(1_000_000, dtype="f4").reshape(1000, 1000)
    loaded = CODEC.decode(CODEC.encode(array, store), store, CODEC.version)
    assert loaded.nchunks > 1
    assert loaded[500, 2:4].tolist() == [500_002.0, 500_003.0]
    with pytest.raises(ValueError, match="read-only|read only"):
        loaded[0, 0] = 1.0


def test_same_array_is_stored_once(store: ObjectStore) -> None:
    array = np.arange(100, dtype="u2")
    assert CODEC.encode(array, store) == CODEC.encode(array.copy(), store)


@given(
    shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5000),
    itemsize=st.sampled_from([1, 2, 8, 16]),
)
def test_chunks_hold_whole_trailing_rows_of_at_most_the_target_size(
    shape: tuple[int, ...], itemsize: int
) -> None:
    target = 1 << 16
    chunks = chunk_shape(shape, itemsize, target)
    full = tuple(max(1, side) for side in shape)
    assert len(chunks) == len(shape) and all(1 <= c <= f for c, f in zip(chunks, full, strict=True))
    assert np.prod(chunks) <= max(1, target // itemsize)
    for axis, (chunk, side) in enumerate(zip(chunks, full, strict=True)):
        if chunk < side:  # a split axis: a chunk spans a single index of every axis before
            assert set(chunks[:axis]) <= {1}


@pytest.mark.parametrize("dtype", ["U3", "S2", "V4", "i4,f8", "O"])
def test_dtype_without_a_zarr_v3_data_type_is_refused(dtype: str, store: ObjectStore) -> None:
    array = np.zeros(3, dtype=dtype)
    assert not CODEC.accepts(array)
    with pytest.raises(CodecError, match="no Zarr v3 data type.*cache_type='npy'"):
        CODEC.encode(array, store)


def test_non_array_is_refused(store: ObjectStore) -> None:
    assert not CODEC.accepts([1.0])
    with pytest.raises(CodecError, match="numpy or zarr arrays, got list"):
        CODEC.encode([1.0], store)
