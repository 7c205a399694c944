"""Test support for codecs: hypothesis strategies of values, and an exact-equality oracle.

The oracle is independent of every codec: it compares types, dtypes and bytes, so a
value that comes back equal but with another type (a list for a tuple, float64 for
float32) fails. Needs hypothesis (a test dependency); codec authors may use it to test
their own codecs the same way.
"""

from __future__ import annotations

import math
from datetime import date, time, timedelta, timezone
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ._common import SMALL_ARRAY_BYTES

__all__ = [
    "same_value",
    "array_dtypes",
    "structured_dtypes",
    "arrays",
    "assert_same_value",
    "msgpack_values",
    "numpy_scalars",
]


def assert_same_value(actual: Any, expected: Any, path: str = "value") -> None:
    """Assert ``actual`` equals ``expected`` with the same types all the way down.

    Arrays compare by dtype, shape and bytes (an ``np.memmap`` may stand for an
    ``np.ndarray``); floats bit for bit (NaN equals NaN, -0.0 differs from 0.0).
    """
    if isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray), f"{path}: {type(actual)} is not an array"
        assert (actual.dtype, actual.shape) == (expected.dtype, expected.shape), path
        assert actual.tobytes() == expected.tobytes(), f"{path}: array content differs"
        return
    assert type(actual) is type(expected), f"{path}: {type(actual)} != {type(expected)}"
    if isinstance(expected, np.generic):
        assert actual.dtype == expected.dtype, f"{path}: {actual.dtype} != {expected.dtype}"
        assert actual.tobytes() == expected.tobytes(), f"{path}: {actual!r} != {expected!r}"
    elif isinstance(expected, (float, complex)):
        assert _float_bits(actual) == _float_bits(expected), f"{path}: {actual} != {expected}"
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}"
        for index, (left, right) in enumerate(zip(actual, expected, strict=True)):
            assert_same_value(left, right, f"{path}[{index}]")
    elif isinstance(expected, dict):
        assert_same_value(list(actual), list(expected), f"{path}.keys()")
        for (key, left), right in zip(actual.items(), expected.values(), strict=True):
            assert_same_value(left, right, f"{path}[{key!r}]")
    elif isinstance(expected, (set, frozenset)):
        assert _fingerprints(actual) == _fingerprints(expected), f"{path}: {actual} != {expected}"
    elif isinstance(expected, (date, time, timedelta)):  # repr shows tzinfo and fold too
        assert repr(actual) == repr(expected), f"{path}: {actual!r} != {expected!r}"
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def same_value(actual: Any, expected: Any) -> bool:
    """Whether :func:`assert_same_value` holds (for checks that allow several values)."""
    try:
        assert_same_value(actual, expected)
    except AssertionError:
        return False
    return True


def _float_bits(value: float | complex) -> tuple[str, ...]:
    parts = (value.real, value.imag) if isinstance(value, complex) else (value,)
    return tuple("nan" if math.isnan(part) else part.hex() for part in parts)


def _fingerprints(items: set[Any] | frozenset[Any]) -> list[tuple[str, str]]:
    return sorted((type(item).__qualname__, repr(item)) for item in items)


def array_dtypes(*, structured: bool = True, strings: bool = True) -> st.SearchStrategy[np.dtype]:
    """Dtypes numpy can save: scalar kinds in both byte orders, optionally strings and
    structured dtypes (nested, with sub-arrays). Raw ``V`` dtypes are left out (hypothesis
    cannot generate their elements)."""
    scalars = hnp.scalar_dtypes()
    if strings:
        scalars = scalars | hnp.unicode_string_dtypes() | hnp.byte_string_dtypes()
    if not structured:
        return scalars
    return scalars | structured_dtypes(scalars | structured_dtypes(scalars))


@st.composite
def structured_dtypes(draw: st.DrawFn, fields: st.SearchStrategy[np.dtype]) -> np.dtype:
    """Structured dtypes of 1 to 3 fields drawn from ``fields``, some with sub-array shapes."""
    names = draw(st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=3, unique=True))
    shapes = st.sampled_from([(), (2,), (1, 3)])
    return np.dtype([(name, draw(fields), draw(shapes)) for name in names])


@st.composite
def arrays(
    draw: st.DrawFn, dtypes: st.SearchStrategy[np.dtype] | None = None, max_side: int = 5
) -> np.ndarray:
    """Arrays of any shape from 0-d to 3-d (sides may be 0), C or Fortran ordered."""
    dtype = draw(dtypes if dtypes is not None else array_dtypes())
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=max_side))
    array = draw(hnp.arrays(dtype, shape))
    return np.asfortranarray(array) if draw(st.booleans()) else array


def numpy_scalars() -> st.SearchStrategy[np.generic]:
    """Numpy scalars of every non-object dtype, structured ones included (``np.void``)."""
    zero_d = arrays(array_dtypes(), max_side=0)
    # a 0-d array of a sub-array dtype is still an array when indexed: left out
    return zero_d.map(_item).filter(lambda value: isinstance(value, np.generic))


def _item(array: np.ndarray) -> Any:
    return array[()]


def _time_zones() -> st.SearchStrategy[Any]:
    offsets = st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
    fixed = offsets.map(timezone) | st.tuples(offsets, st.text(min_size=1, max_size=5)).map(
        lambda args: timezone(*args)
    )
    return st.none() | fixed | st.timezones()


def _leaves() -> st.SearchStrategy[Any]:
    hashable: st.SearchStrategy[Any] = st.one_of(
        st.none(), st.booleans(), st.integers(), st.text(), st.binary(), st.floats(allow_nan=False)
    )
    small_arrays = arrays(max_side=3).filter(lambda array: array.nbytes <= SMALL_ARRAY_BYTES)
    return st.one_of(
        hashable,
        st.floats(),
        st.complex_numbers(),
        st.dates(),
        st.datetimes(timezones=_time_zones(), allow_imaginary=False),
        st.times(timezones=_time_zones()),
        st.timedeltas(),
        numpy_scalars(),
        small_arrays,
        st.sets(hashable, max_size=4),
        st.frozensets(hashable, max_size=4),
    )


def msgpack_values(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Nested values the ``msgpack`` codec accepts: plain and extended leaves in lists,
    tuples and dicts (keys of several hashable types)."""
    keys: st.SearchStrategy[Any] = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.text(max_size=5),
        st.binary(max_size=5),
        st.tuples(st.integers(), st.text(max_size=3)),
    )
    return st.recursive(
        _leaves(),
        lambda children: (
            st.lists(children, max_size=4)
            | st.lists(children, max_size=4).map(tuple)
            | st.dictionaries(keys, children, max_size=4)
        ),
        max_leaves=max_leaves,
    )
