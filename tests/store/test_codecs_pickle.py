"""Contract of the ``pickle`` codec, the explicit last resort: any picklable value
(custom objects, object-dtype arrays) round-trips, inline when small and as one ``.pkl``
object otherwise; unpicklable values and garbled payloads raise precise errors."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings

from exca.store.codecs import get_codec
from exca.store.codecs._common import INLINE_LIMIT
from exca.store.codecs.base import Encoded
from exca.store.codecs.testing import arrays, assert_same_value, msgpack_values
from exca.store.errors import CodecError, CorruptArtifactError
from exca.store.objects import ObjectStore

CODEC = get_codec("pickle")
PROPERTY = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@dataclass(frozen=True)
class Point:
    x: float
    label: str


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path)


def round_trip(value: Any, store: ObjectStore) -> Any:
    return CODEC.decode(CODEC.encode(value, store), store, CODEC.version)


def has_non_native_datetimes(value: Any) -> bool:
    """Whether ``value`` holds big-endian datetime64/timedelta64 data, which numpy itself
    unpickles in native byte order (same values, another dtype)."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return any(has_non_native_datetimes(item) for item in value)
    if isinstance(value, (np.ndarray, np.generic)):
        return any(dtype.kind in "mM" and not dtype.isnative for dtype in _leaf_dtypes(value.dtype))
    return False


def _leaf_dtypes(dtype: np.dtype) -> list[np.dtype]:
    if dtype.fields is None:
        return [dtype.base]
    return [leaf for field, *_ in dtype.fields.values() for leaf in _leaf_dtypes(field)]


@PROPERTY
@given(value=msgpack_values() | arrays())
def test_any_generated_value_round_trips_exactly(value: Any, store: ObjectStore) -> None:
    assume(not has_non_native_datetimes(value))
    assert CODEC.accepts(value)
    assert_same_value(round_trip(value, store), value)


def test_custom_objects_and_object_arrays_round_trip(store: ObjectStore) -> None:
    array = np.array([Point(1.0, "a"), None, {"k": 1}], dtype=object)
    loaded = round_trip({"points": [Point(2.0, "b")], "array": array}, store)
    assert loaded["points"] == [Point(2.0, "b")]
    assert loaded["array"].dtype == object and loaded["array"].tolist() == array.tolist()


def test_small_pickle_is_inline(store: ObjectStore) -> None:
    encoded = CODEC.encode(Point(1.0, "a"), store)
    assert encoded.inline is not None and encoded.objects == ()


def test_large_pickle_becomes_one_pkl_object(store: ObjectStore) -> None:
    value = [Point(float(i), f"{i:050d}") for i in range(INLINE_LIMIT // 50)]
    encoded = CODEC.encode(value, store)
    assert encoded.inline is None and [ref.suffix for ref in encoded.objects] == [".pkl"]
    assert CODEC.decode(encoded, store, CODEC.version) == value


def test_unpicklable_value_raises_codec_error_naming_its_type(store: ObjectStore) -> None:
    with pytest.raises(CodecError, match="_thread.lock") as info:
        CODEC.encode({"lock": threading.Lock()}, store)
    assert isinstance(info.value.__cause__, TypeError)


def test_garbled_payload_is_reported_corrupt(store: ObjectStore) -> None:
    with pytest.raises(CorruptArtifactError, match="codec 'pickle'"):
        CODEC.decode(Encoded(inline=b"\x80\x05garbage"), store, CODEC.version)
