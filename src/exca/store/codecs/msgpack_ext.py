"""The byte format of the msgpack and nested codecs: msgpack extended with exact types.

Extension types carry what plain msgpack would change on the way back: tuples, sets and
frozensets, integers beyond 64 bits, complex numbers, dates and times (with fixed-offset
or IANA time zones), numpy scalars and arrays with their dtype, and (for the nested
codec only) references to arrays stored as separate objects. The codes below are part
of the stored format: never renumber them, only add new ones.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from functools import partial
from typing import Any, Literal
from zoneinfo import ZoneInfo

import msgpack
import numpy as np

from ..errors import CodecError
from ._common import SMALL_ARRAY_BYTES, describe_type

__all__ = ["LoadArray", "StoreArray", "packb", "unpackb"]

TUPLE = 1
SET = 2
FROZENSET = 3
BIG_INT = 4
COMPLEX = 5
DATETIME = 6
DATE = 7
TIME = 8
TIMEDELTA = 9
NUMPY_SCALAR = 10
NUMPY_ARRAY = 11
OBJECT_REF = 12

#: Stores a large array as its own object and returns the index to refer to it by.
StoreArray = Callable[[np.ndarray], int]
#: Returns the array stored under an index by :data:`StoreArray`.
LoadArray = Callable[[int], np.ndarray]

_Order = Literal["C", "F"]
_COMPLEX = struct.Struct("<dd")
_ONE_MICROSECOND = timedelta(microseconds=1)


def packb(value: Any, *, store_array: StoreArray | None = None) -> bytes:
    """Serialize ``value``; with ``store_array``, arrays above the small-array size are
    handed to it and referenced by index instead of being inlined."""
    return _Packer(store_array).packb(value)


def unpackb(data: bytes, *, load_array: LoadArray | None = None) -> Any:
    """Inverse of :func:`packb` (``load_array`` resolves array references)."""
    return msgpack.unpackb(
        data,
        ext_hook=partial(_ext_hook, load_array),
        raw=False,
        strict_map_key=False,
        unicode_errors="surrogatepass",
    )


class _Packer:
    """Turns the values plain msgpack would alter into extension types."""

    def __init__(self, store_array: StoreArray | None) -> None:
        self._store_array = store_array

    def packb(self, value: Any) -> bytes:
        # strict_types: subclasses (np.float64 is a float, bool an int...) reach
        # _default instead of being packed as their base type and losing their type.
        # A fresh packer per call: _default packs nested payloads re-entrantly.
        return msgpack.packb(
            value,
            default=self._default,
            use_bin_type=True,
            strict_types=True,
            unicode_errors="surrogatepass",
        )

    def _default(self, obj: Any) -> msgpack.ExtType:
        kind = type(obj)
        if kind is tuple:
            return msgpack.ExtType(TUPLE, self.packb(list(obj)))
        if kind is set or kind is frozenset:
            return msgpack.ExtType(SET if kind is set else FROZENSET, self._pack_set(obj))
        simple = _SIMPLE_ENCODERS.get(kind)
        if simple is not None:
            code, payload = simple(obj)
            return msgpack.ExtType(code, payload)
        if isinstance(obj, np.generic) and not obj.dtype.hasobject:
            # through a 0-d array: np.str_("") has dtype <U0 yet 4 bytes, its array <U1
            zero_d = np.asarray(obj)
            descr = np.lib.format.dtype_to_descr(zero_d.dtype)
            return msgpack.ExtType(NUMPY_SCALAR, self.packb([descr, zero_d.tobytes()]))
        if kind is np.ndarray or kind is np.memmap:
            return self._pack_array(obj)
        raise CodecError(f"msgpack cannot store a value of type {describe_type(obj)} exactly")

    def _pack_set(self, items: set[Any] | frozenset[Any]) -> bytes:
        # Sorted by packed bytes: the same set packs to the same bytes in every process
        # (iteration order of str elements depends on the per-process hash seed).
        packed = sorted(self.packb(item) for item in items)
        header: bytes = msgpack.Packer().pack_array_header(len(packed))
        return header + b"".join(packed)

    def _pack_array(self, array: np.ndarray) -> msgpack.ExtType:
        if array.dtype.hasobject:
            raise CodecError(
                f"msgpack cannot store object-dtype arrays ({array.dtype}); use cache_type='pickle'"
            )
        if self._store_array is not None and array.nbytes > SMALL_ARRAY_BYTES:
            return msgpack.ExtType(OBJECT_REF, _plain_packb(self._store_array(array)))
        order: _Order = "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"
        descr = np.lib.format.dtype_to_descr(array.dtype)
        fields = [descr, list(array.shape), order, array.tobytes(order=order)]
        return msgpack.ExtType(NUMPY_ARRAY, self.packb(fields))


def _plain_packb(value: Any) -> bytes:
    """Pack ``value`` made only of msgpack's own types (ints, str, None, lists)."""
    return msgpack.packb(value, use_bin_type=True, strict_types=True)


def _tz_fields(tz: tzinfo | None) -> str | list[Any] | None:
    if tz is None:
        return None
    if type(tz) is ZoneInfo and tz.key is not None:
        return tz.key
    if type(tz) is timezone:
        offset = tz.utcoffset(None)
        return [offset // _ONE_MICROSECOND, tz.tzname(None)]
    raise CodecError(
        f"msgpack stores time zones of type datetime.timezone or zoneinfo.ZoneInfo (with a "
        f"key), got {describe_type(tz)}; use cache_type='pickle'"
    )


def _tz_from_fields(fields: str | list[Any] | None) -> tzinfo | None:
    if fields is None:
        return None
    if isinstance(fields, str):
        return ZoneInfo(fields)
    micros, name = fields
    plain = timezone(timedelta(microseconds=micros))
    return plain if plain.tzname(None) == name else timezone(plain.utcoffset(None), name)


def _encode_int(value: int) -> tuple[int, bytes]:
    # Reached only for ints beyond msgpack's 64-bit range.
    return BIG_INT, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)


def _encode_datetime(value: datetime) -> tuple[int, bytes]:
    fields = [value.year, value.month, value.day, value.hour, value.minute, value.second]
    return DATETIME, _plain_packb(
        [*fields, value.microsecond, value.fold, _tz_fields(value.tzinfo)]
    )


def _encode_time(value: time) -> tuple[int, bytes]:
    fields = [value.hour, value.minute, value.second, value.microsecond, value.fold]
    return TIME, _plain_packb([*fields, _tz_fields(value.tzinfo)])


_SIMPLE_ENCODERS: dict[type, Callable[[Any], tuple[int, bytes]]] = {
    int: _encode_int,
    complex: lambda value: (COMPLEX, _COMPLEX.pack(value.real, value.imag)),
    datetime: _encode_datetime,
    date: lambda value: (DATE, _plain_packb(value.toordinal())),
    time: _encode_time,
    timedelta: lambda v: (TIMEDELTA, _plain_packb([v.days, v.seconds, v.microseconds])),
}


def _datetime(fields: list[Any]) -> datetime:
    year, month, day, hour, minute, second, micro, fold, tz = fields
    tzinfo = _tz_from_fields(tz)
    return datetime(year, month, day, hour, minute, second, micro, tzinfo, fold=fold)


def _time(fields: list[Any]) -> time:
    hour, minute, second, micro, fold, tz = fields
    return time(hour, minute, second, micro, _tz_from_fields(tz), fold=fold)


def _from_buffer(raw: bytes, dtype: np.dtype, shape: tuple[int, ...], order: _Order) -> np.ndarray:
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"array payload has {len(raw)} bytes, expected {expected}")
    # a bytearray copy: the result owns writable memory, like the array that was stored
    return np.ndarray(shape, dtype=dtype, buffer=bytearray(raw), order=order)


def _scalar(fields: list[Any]) -> np.generic:
    descr, raw = fields
    zero_d = _from_buffer(raw, np.lib.format.descr_to_dtype(descr), (), "C")
    return zero_d[()]  # type: ignore[return-value]  # the stubs say array: it is a scalar


def _array(fields: list[Any]) -> np.ndarray:
    descr, shape, order, raw = fields
    if order not in ("C", "F"):
        raise ValueError(f"array order must be 'C' or 'F', got {order!r}")
    return _from_buffer(raw, np.lib.format.descr_to_dtype(descr), tuple(shape), order)


_FIELD_DECODERS: dict[int, Callable[[Any], Any]] = {
    TUPLE: tuple,
    SET: set,
    FROZENSET: frozenset,
    DATETIME: _datetime,
    DATE: date.fromordinal,
    TIME: _time,
    TIMEDELTA: lambda fields: timedelta(*fields),
    NUMPY_SCALAR: _scalar,
    NUMPY_ARRAY: _array,
}


def _ext_hook(load_array: LoadArray | None, code: int, payload: bytes) -> Any:
    if code == BIG_INT:
        return int.from_bytes(payload, "big", signed=True)
    if code == COMPLEX:
        return complex(*_COMPLEX.unpack(payload))
    if code == OBJECT_REF:
        if load_array is None:
            raise ValueError("array reference found outside a nested-codec payload")
        return load_array(unpackb(payload))
    decode = _FIELD_DECODERS.get(code)
    if decode is None:
        raise ValueError(f"unknown msgpack extension type {code} (written by a newer exca?)")
    return decode(unpackb(payload, load_array=load_array))
