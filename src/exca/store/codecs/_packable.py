"""Which values the extended msgpack format round-trips exactly, found by one walk."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from ._common import SMALL_ARRAY_BYTES, describe_type, is_plain_array, loaded_numpy
from ._time_fields import is_supported_tz

if TYPE_CHECKING:
    import numpy as np

__all__ = ["MAX_DEPTH", "MAX_SET_DEPTH", "find_unsupported"]

#: Deeper values (and reference cycles, which are infinitely deep) are left to pickle.
MAX_DEPTH = 200
#: Sets nest less deep: packing sorts a set's items by their packed bytes, which goes
#: through the C packer once more per nested set level (stack, not heap: threads with
#: small stacks must not overflow). Each set level counts as this fraction of MAX_DEPTH.
MAX_SET_DEPTH = 8
_SET_LEVEL = MAX_DEPTH // MAX_SET_DEPTH

# Exact types only: a subclass (IntEnum, OrderedDict, pandas.Timestamp...) would come
# back as its base type.
_LEAVES = frozenset({type(None), bool, int, float, str, bytes, complex, date, timedelta})


def find_unsupported(value: Any, *, large_arrays: bool) -> str | None:
    """Describe the first part of ``value`` that would not round-trip exactly, else None.

    Parameters
    ----------
    value
        The value to inspect.
    large_arrays
        Whether arrays above :data:`SMALL_ARRAY_BYTES` are allowed.

    Examples
    --------
    >>> find_unsupported({"a": (1, 2.5, b"x")}, large_arrays=False) is None
    True
    >>> find_unsupported({"a": [1, bytearray(b"x")]}, large_arrays=False)
    "value['a'][1] (bytearray)"
    """
    found = _find(value, 0, large_arrays)
    if found is None:
        return None
    labels, detail = found  # (labels from the innermost part out)
    return f"value{''.join(reversed(labels))} ({detail})"


# A problem found: the labels of the path to it (innermost first, built only on the way
# back from a problem: most values have none, and labelling every part cost more than
# the walk), and what is wrong there.
_Problem = tuple[list[str], str]


def _find(value: Any, depth: int, large_arrays: bool) -> _Problem | None:
    kind = type(value)
    if kind in _LEAVES:
        return None
    if depth >= MAX_DEPTH:
        detail = (
            f"nested deeper than {MAX_DEPTH} levels or {MAX_SET_DEPTH} levels of sets, "
            "or a reference cycle"
        )
        return [], detail
    if kind is list or kind is tuple:
        return _find_in(enumerate(value), depth, large_arrays, keyed=True)
    if kind is set or kind is frozenset:
        return _find_in(enumerate(value), depth + _SET_LEVEL - 1, large_arrays, keyed=False)
    if kind is dict:
        keys = _find_in(enumerate(value), depth, large_arrays, keyed=True)
        if keys is not None:
            keys[0].append(".keys()")
            return keys
        return _find_in(value.items(), depth, large_arrays, keyed=True)
    if kind is datetime or kind is time:
        return None if is_supported_tz(value.tzinfo) else ([], f"time zone {value.tzinfo!r}")
    np = loaded_numpy()
    if np is not None and (isinstance(value, np.generic) or is_plain_array(value)):
        wrong = _find_numpy(value, large_arrays)
        return None if wrong is None else ([], wrong)
    return [], describe_type(value)


def _find_in(
    items: Iterable[tuple[Any, Any]], depth: int, large_arrays: bool, keyed: bool
) -> _Problem | None:
    for key, item in items:
        if type(item) in _LEAVES:  # (the common case, without a call)
            continue
        problem = _find(item, depth + 1, large_arrays)
        if problem is not None:
            problem[0].append(f"[{_short_repr(key)}]" if keyed else "{...}")
            return problem
    return None


def _find_numpy(value: np.generic | np.ndarray, large_arrays: bool) -> str | None:
    if value.dtype.hasobject:
        return f"object dtype {value.dtype}"
    if not large_arrays and is_plain_array(value) and value.nbytes > SMALL_ARRAY_BYTES:
        return f"array of {value.nbytes} bytes, above {SMALL_ARRAY_BYTES}"
    return None


def _short_repr(key: Any) -> str:
    text = repr(key)
    return text if len(text) <= 40 else text[:37] + "..."
