"""The byte format of the msgpack and nested codecs: msgpack extended with exact types.

What plain msgpack would change on the way back is written as a *tagged array*: a
msgpack array whose first item is an empty extension value naming the type, followed
by the fields (``[<tuple>, 1, 2]`` for ``(1, 2)``). So tuples, sets, frozensets, dates
and times (fixed-offset or IANA zones), numpy scalars and arrays (dtype, shape, order,
bytes) and, for the nested codec, references to arrays stored as objects, all nest
inside one msgpack document, decoded without recursion in C (an extension value whose
payload is a packed document would be decoded recursively, and crash the interpreter
once nested a few hundred deep). Integers beyond 64 bits and complex numbers are plain
extension values. The codes are part of the stored format: never renumber them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal

import msgpack

from ..errors import CodecError
from ._common import SMALL_ARRAY_BYTES, describe_type, is_plain_array, loaded_numpy
from ._time_fields import datetime_from_fields, datetime_to_fields, time_from_fields, time_to_fields

if TYPE_CHECKING:
    import numpy as np

__all__ = ["LoadArray", "StoreArray", "packb", "unpackb", "unpackb_many"]

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
StoreArray = Callable[["np.ndarray"], int]
#: Returns the array stored under an index by :data:`StoreArray`.
LoadArray = Callable[[int], "np.ndarray"]

_Order = Literal["C", "F"]
_COMPLEX = struct.Struct("<dd")


def packb(value: Any, *, store_array: StoreArray | None = None) -> bytes:
    """Serialize ``value``; with ``store_array``, arrays above the small-array size are
    handed to it and referenced by index instead of being inlined."""
    return _Packer(store_array).packb(value)


def unpackb(data: bytes, *, load_array: LoadArray | None = None) -> Any:
    """Inverse of :func:`packb` (``load_array`` resolves array references).

    Raises ``ValueError`` (or ``TypeError``) when ``data`` is not such a document.
    """
    if load_array is None:
        try:  # most documents hold no tags: plain msgpack decodes them as they are
            # keywords spelled out: a ``**options`` call costs twice as much per small hit
            return msgpack.unpackb(
                data,
                ext_hook=_has_tags,
                raw=False,
                strict_map_key=False,
                unicode_errors="surrogatepass",
            )
        except _HasTags:
            pass
    return _Unpacker(load_array).unpackb(data)


def unpackb_many(payloads: Sequence[bytes]) -> list[Any]:
    """:func:`unpackb` of each payload, in order (the first error raised is the one
    :func:`unpackb` raises on the first payload it refuses)."""
    unpack, hook = msgpack.unpackb, _has_tags  # inlined: no Python call per payload
    try:
        return [
            unpack(
                data, ext_hook=hook, raw=False, strict_map_key=False, unicode_errors="surrogatepass"
            )
            for data in payloads
        ]
    except _HasTags:
        return [unpackb(data) for data in payloads]


class _HasTags(Exception):
    """Raised by the plain decoding's ext hook: the document needs the full unpacker."""


def _has_tags(code: int, payload: bytes) -> Any:
    raise _HasTags


def _tag(code: int) -> msgpack.ExtType:
    return msgpack.ExtType(code, b"")


class _Packer:
    """Turns the values plain msgpack would alter into tagged arrays."""

    def __init__(self, store_array: StoreArray | None) -> None:
        self._store_array = store_array
        self._sets: dict[int, list[Any]] = {}  # by id: the packed value keeps sets alive

    def packb(self, value: Any) -> bytes:
        # strict_types: subclasses (np.float64 is a float, bool an int...) reach
        # _default instead of being packed as their base type and losing their type.
        return msgpack.packb(
            value,
            default=self._default,
            use_bin_type=True,
            strict_types=True,
            unicode_errors="surrogatepass",
        )

    def _default(self, obj: Any) -> msgpack.ExtType | list[Any]:
        kind = type(obj)
        if kind is tuple:
            return [_tag(TUPLE), *obj]
        if kind is set or kind is frozenset:
            return self._set_fields(obj)
        if kind is int:  # only ints beyond msgpack's 64-bit range get here
            return msgpack.ExtType(
                BIG_INT, obj.to_bytes(obj.bit_length() // 8 + 1, "big", signed=True)
            )
        if kind is complex:
            return msgpack.ExtType(COMPLEX, _COMPLEX.pack(obj.real, obj.imag))
        fields = _FIELD_ENCODERS.get(kind)
        if fields is not None:
            return fields(obj)
        np = loaded_numpy()  # (None: obj is no numpy value)
        if np is not None and isinstance(obj, np.generic) and not obj.dtype.hasobject:
            # through a 0-d array: np.str_("") has dtype <U0 yet 4 bytes, its array <U1
            zero_d = np.asarray(obj)
            return [
                _tag(NUMPY_SCALAR),
                np.lib.format.dtype_to_descr(zero_d.dtype),
                zero_d.tobytes(),
            ]
        if is_plain_array(obj):
            return self._array_fields(obj)
        raise CodecError(f"msgpack cannot store a value of type {describe_type(obj)} exactly")

    def _set_fields(self, items: set[Any] | frozenset[Any]) -> list[Any]:
        # Sorted by packed bytes: the same set packs to the same bytes in every process
        # (iteration order of str elements depends on the per-process hash seed). Cached
        # per set: packing an outer set's items (its sort keys) packs the inner sets, which
        # must not be sorted again at every level (2**depth work for nested frozensets).
        cached = self._sets.get(id(items))
        if cached is None:
            tag = _tag(SET if type(items) is set else FROZENSET)
            cached = self._sets[id(items)] = [tag, *sorted(items, key=self.packb)]
        return cached

    def _array_fields(self, array: np.ndarray) -> list[Any]:
        if array.dtype.hasobject:
            raise CodecError(
                f"msgpack cannot store object-dtype arrays ({array.dtype}); use cache_type='pickle'"
            )
        if self._store_array is not None and array.nbytes > SMALL_ARRAY_BYTES:
            return [_tag(OBJECT_REF), self._store_array(array)]
        import numpy as np  # (imported already: array is one)

        order: _Order = "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"
        descr = np.lib.format.dtype_to_descr(array.dtype)
        return [_tag(NUMPY_ARRAY), descr, list(array.shape), order, array.tobytes(order=order)]


_FIELD_ENCODERS: dict[type, Callable[[Any], list[Any]]] = {
    datetime: lambda value: [_tag(DATETIME), *datetime_to_fields(value)],
    date: lambda value: [_tag(DATE), value.toordinal()],
    time: lambda value: [_tag(TIME), *time_to_fields(value)],
    timedelta: lambda value: [_tag(TIMEDELTA), value.days, value.seconds, value.microseconds],
}


class _Tag:
    """Decoded form of a tag: marks the list it starts for conversion by ``list_hook``."""

    __slots__ = ("code",)

    def __init__(self, code: int) -> None:
        self.code = code


def _from_buffer(raw: bytes, dtype: np.dtype, shape: tuple[int, ...], order: _Order) -> np.ndarray:
    import numpy as np  # (a document holding numpy values: the first may import numpy)

    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if type(raw) is not bytes or len(raw) != expected:
        raise ValueError(f"array payload is not {expected} bytes")
    # a bytearray copy: the result owns writable memory, like the array that was stored
    return np.ndarray(shape, dtype=dtype, buffer=bytearray(raw), order=order)


def _scalar(descr: Any, raw: bytes) -> np.generic:
    from numpy.lib.format import descr_to_dtype

    zero_d = _from_buffer(raw, descr_to_dtype(descr), (), "C")
    return zero_d[()]  # type: ignore[return-value]  # the stubs say array: it is a scalar


def _array(descr: Any, shape: list[int], order: _Order, raw: bytes) -> np.ndarray:
    if order not in ("C", "F"):
        raise ValueError(f"array order must be 'C' or 'F', got {order!r}")
    from numpy.lib.format import descr_to_dtype

    return _from_buffer(raw, descr_to_dtype(descr), tuple(shape), order)


_FIELD_DECODERS: dict[int, Callable[..., Any]] = {
    TUPLE: lambda *items: items,
    SET: lambda *items: set(items),
    FROZENSET: lambda *items: frozenset(items),
    DATETIME: datetime_from_fields,
    DATE: date.fromordinal,
    TIME: time_from_fields,
    TIMEDELTA: timedelta,
    NUMPY_SCALAR: _scalar,
    NUMPY_ARRAY: _array,
}
_TAGS = {code: _Tag(code) for code in (*_FIELD_DECODERS, OBJECT_REF)}


class _Unpacker:
    """One decoding: turns tags back into values, counting them so none can leak."""

    def __init__(self, load_array: LoadArray | None) -> None:
        self._load_array = load_array
        self._open_tags = 0  # tags decoded but not yet consumed as a list's first item

    def unpackb(self, data: bytes) -> Any:
        value = msgpack.unpackb(
            data,
            ext_hook=self._ext_hook,
            list_hook=self._list_hook,
            raw=False,
            strict_map_key=False,
            unicode_errors="surrogatepass",
        )
        if self._open_tags:
            raise ValueError(f"{self._open_tags} type tag(s) outside the first place of a list")
        return value

    def _ext_hook(self, code: int, payload: bytes) -> Any:
        if code == BIG_INT:
            return int.from_bytes(payload, "big", signed=True)
        if code == COMPLEX:
            return complex(*_COMPLEX.unpack(payload))
        tag = _TAGS.get(code)
        if tag is None or payload:
            raise ValueError(f"unknown msgpack extension type {code} (written by a newer exca?)")
        self._open_tags += 1
        return tag

    def _list_hook(self, items: list[Any]) -> Any:
        if not items or type(items[0]) is not _Tag:
            return items
        self._open_tags -= 1
        code = items[0].code
        if code == OBJECT_REF:
            if self._load_array is None:
                raise ValueError("array reference found outside a nested-codec payload")
            return self._load_array(*items[1:])
        return _FIELD_DECODERS[code](*items[1:])
