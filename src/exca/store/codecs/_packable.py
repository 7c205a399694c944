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
    return _find(value, "value", 0, large_arrays)


def _find(value: Any, path: str, depth: int, large_arrays: bool) -> str | None:
    kind = type(value)
    if kind in _LEAVES:
        return None
    if depth >= MAX_DEPTH:
        return (
            f"{path} (nested deeper than {MAX_DEPTH} levels or {MAX_SET_DEPTH} levels of "
            "sets, or a reference cycle)"
        )
    if kind is list or kind is tuple:
        return _find_in(enumerate(value), path, depth, large_arrays, keyed=True)
    if kind is set or kind is frozenset:
        return _find_in(enumerate(value), path, depth + _SET_LEVEL - 1, large_arrays, keyed=False)
    if kind is dict:
        keys = _find_in(enumerate(value), path + ".keys()", depth, large_arrays, keyed=True)
        return keys or _find_in(value.items(), path, depth, large_arrays, keyed=True)
    if kind is datetime or kind is time:
        return None if is_supported_tz(value.tzinfo) else f"{path} (time zone {value.tzinfo!r})"
    np = loaded_numpy()
    if np is not None and (isinstance(value, np.generic) or is_plain_array(value)):
        return _find_numpy(value, path, large_arrays)
    return f"{path} ({describe_type(value)})"


def _find_in(
    items: Iterable[tuple[Any, Any]], path: str, depth: int, large_arrays: bool, keyed: bool
) -> str | None:
    for key, item in items:
        label = f"{path}[{_short_repr(key)}]" if keyed else f"{path}{{...}}"
        problem = _find(item, label, depth + 1, large_arrays)
        if problem is not None:
            return problem
    return None


def _find_numpy(value: np.generic | np.ndarray, path: str, large_arrays: bool) -> str | None:
    if value.dtype.hasobject:
        return f"{path} (object dtype {value.dtype})"
    if not large_arrays and is_plain_array(value) and value.nbytes > SMALL_ARRAY_BYTES:
        return f"{path} (array of {value.nbytes} bytes, above {SMALL_ARRAY_BYTES})"
    return None


def _short_repr(key: Any) -> str:
    text = repr(key)
    return text if len(text) <= 40 else text[:37] + "..."
