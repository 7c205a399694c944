"""Store keys: the xxh3-128 digest of a canonical, type-tagged msgpack encoding of a value.

The encoding (format version 1, every byte pinned by golden tests):

* ``None``, ``bool``, ``int`` within msgpack's 64-bit range, ``float`` and ``str`` are
  plain msgpack values, which msgpack already tells apart; ``bytes``, ``bytearray`` and
  ``memoryview`` are msgpack ``bin``. NaN is one canonical NaN; ``-0.0`` stays distinct.
* Any other value is a msgpack ext value whose code is a type tag (:class:`_Tag`) and
  whose payload is the concatenation of the encodings of its parts. Each encoding is
  one self-delimiting msgpack value, so two concatenations never collide.
* Sets, frozensets and dicts sort the encodings of their elements (key + value for a
  dict), so neither insertion order nor ``PYTHONHASHSEED`` matters.
* A numpy array is its dtype, shape and the xxh3-128 digest of its bytes in C order: a
  large array is hashed in place, in bounded blocks if not C-contiguous, never copied
  into the encoding. Its bytes are taken as they are (NaN payloads included).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import operator
import pathlib
import sys
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import msgpack
import numpy as np
import xxhash

__all__ = ["KEY_FORMAT_VERSION", "key_bytes", "key_of"]

KEY_FORMAT_VERSION = 1

_hexdigest = xxhash.xxh3_128_hexdigest
# A shared Packer is 4x faster than msgpack.packb. Its buffer is only safe to share
# because, under the GIL, packing the plain values given to it runs no Python code; a
# free-threaded interpreter would race on it, so it gets the stateless packb instead.
_pack: Callable[[object], bytes] = (
    msgpack.Packer(autoreset=True).pack
    if getattr(sys, "_is_gil_enabled", lambda: True)()
    else msgpack.packb
)
_NAN = b"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00"  # msgpack float64 of the quiet NaN 0x7ff8...
_FIXEXT = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}
_ARRAY_BLOCK = 1 << 24  # bytes copied at a time to hash a non-contiguous array in C order
_SUPPORTED = (
    "None, bool, int, float, complex, str, bytes, list, tuple, set, frozenset, dict, numpy "
    "arrays and scalars, pydantic models, dataclasses, datetime/date/time/timedelta, "
    "Decimal, pathlib paths, UUID and Enum members"
)


class _Tag:
    """msgpack ext codes of the tagged types; changing one is a key format bump."""

    BIG_INT, SURROGATE_STR, LIST, TUPLE, SET, FROZENSET, DICT = 1, 2, 3, 4, 5, 6, 7
    NP_SCALAR, NP_ARRAY, NP_OBJECT_ARRAY, FIELDS_OBJECT, ENUM = 8, 9, 10, 11, 12
    DATETIME, DATE, TIME, TIMEDELTA, DECIMAL, COMPLEX, PATH, UUID = 13, 14, 15, 16, 17, 18, 19, 20


def key_of(value: object) -> str:
    """Return the key of ``value``: 32 lowercase hex chars, the xxh3-128 of its encoding.

    Examples
    --------
    >>> key_of("x") == key_of("x") != key_of(b"x")
    True
    >>> len(key_of({"a": [1, 2.0, None]}))
    32
    """
    if type(value) is str:  # the hot path: one C call each to pack and to hash
        try:
            return _hexdigest(_pack(value))
        except UnicodeEncodeError:
            pass
    return _hexdigest(key_bytes(value))


def key_bytes(value: object) -> bytes:
    """Return the canonical type-tagged msgpack encoding that :func:`key_of` hashes.

    It is deterministic across processes, runs and platforms: it never uses ``hash()``,
    dict or set iteration order, or ``PYTHONHASHSEED``.

    Raises
    ------
    TypeError
        If ``value`` holds a type with no canonical encoding (named in the message).
    ValueError
        If ``value`` contains itself, or is nested too deeply to encode.

    Examples
    --------
    >>> key_bytes(5), key_bytes(5.0)[:1], key_bytes(True)
    (b'\\x05', b'\\xcb', b'\\xc3')
    """
    try:
        return _encode(value, set())
    except RecursionError:
        raise ValueError(
            "cannot compute a key: the value is nested deeper than Python's recursion "
            "limit; flatten it or key a smaller description of it"
        ) from None
    except (TypeError, ValueError) as err:
        path = getattr(err, "_exca_key_path", None)
        if path:
            err.add_note(f"while computing a key, at value{''.join(reversed(path))}")
        raise


def _encode(v: object, active: set[int]) -> bytes:
    encoder = _ENCODERS.get(type(v))
    if encoder is None:
        encoder = next((e for t, e in _SUBCLASS_ENCODERS if isinstance(v, t)), None)
        if encoder is None:
            encoder = _fields_encoder(v)
    return encoder(v, active)


def _ext(code: int, payload: bytes) -> bytes:
    """Return the msgpack ext value (the same bytes ``msgpack.packb(ExtType(...))`` gives)."""
    n = len(payload)
    head = _FIXEXT.get(n)
    if head is not None:
        return bytes((head, code)) + payload
    if n < 0x100:
        return bytes((0xC7, n, code)) + payload
    if n < 0x10000:
        return b"\xc8" + n.to_bytes(2, "big") + bytes((code,)) + payload
    return b"\xc9" + n.to_bytes(4, "big") + bytes((code,)) + payload


def _at(err: Exception, where: str) -> None:
    """Record, innermost first, where in the value an error happened."""
    path = getattr(err, "_exca_key_path", None)
    if path is None:
        path = []
        err._exca_key_path = path  # type: ignore[attr-defined]
    path.append(where)


def _enter(v: object, active: set[int]) -> None:
    if id(v) in active:
        raise ValueError(
            f"cannot compute a key of a recursive value: a {_type_name(v)} contains itself; "
            "keys need a finite tree, so break the cycle or key a description of the value"
        )
    active.add(id(v))


def _type_name(v: object) -> str:
    cls = type(v)
    return f"{cls.__module__}.{cls.__qualname__}"


def _unsupported(v: object, active: set[int]) -> bytes:
    raise TypeError(
        f"cannot compute a key for a value of type {_type_name(v)}: it has no canonical "
        f"encoding; define item_uid() on the step (or convert the value), or pass a "
        f"supported type: {_SUPPORTED}"
    )


def _enc_str(v: str, active: set[int]) -> bytes:
    try:
        return _pack(v)
    except UnicodeEncodeError:  # lone surrogates have no UTF-8 form
        return _ext(_Tag.SURROGATE_STR, v.encode("utf-8", "surrogatepass"))


def _enc_int(v: int, active: set[int]) -> bytes:
    try:
        return _pack(int(v))
    except OverflowError:  # beyond msgpack's [-2**63, 2**64): two's complement, minimal
        return _ext(_Tag.BIG_INT, v.to_bytes((v.bit_length() + 8) // 8, "big", signed=True))


def _enc_float(v: float, active: set[int]) -> bytes:
    return _NAN if v != v else _pack(float(v))


def _enc_bytes(v: bytes | bytearray | memoryview, active: set[int]) -> bytes:
    return _pack(v.tobytes() if isinstance(v, memoryview) else bytes(v))


def _items(tag: int, v: Iterable[object], active: set[int]) -> bytes:
    parts, i = [], 0
    try:
        for i, x in enumerate(v):
            parts.append(_encode(x, active))
    except (TypeError, ValueError) as err:
        _at(err, f"[{i}]" if tag != _Tag.NP_OBJECT_ARRAY else f".flat[{i}]")
        raise
    if tag in (_Tag.SET, _Tag.FROZENSET):
        parts.sort()
    return b"".join(parts)


def _enc_list(v: list[object], active: set[int]) -> bytes:
    _enter(v, active)
    payload = _items(_Tag.LIST, v, active)
    active.discard(id(v))
    return _ext(_Tag.LIST, payload)


def _enc_tuple(v: tuple[object, ...], active: set[int]) -> bytes:
    # a tuple can only contain itself through a mutable container, which is tracked
    return _ext(_Tag.TUPLE, _items(_Tag.TUPLE, v, active))


def _enc_set(v: set[object] | frozenset[object], active: set[int]) -> bytes:
    tag = _Tag.FROZENSET if isinstance(v, frozenset) else _Tag.SET
    return _ext(tag, _items(tag, v, active))


def _pairs(pairs: Iterable[tuple[object, object]], active: set[int], fields: bool) -> bytes:
    """Concatenate sorted key + value encodings; as encodings are prefix-free, this
    sorts by key encoding, then by value encoding (two NaN keys can tie)."""
    parts = []
    try:
        for k, x in pairs:
            parts.append(_encode(k, active) + _encode(x, active))
    except (TypeError, ValueError) as err:
        _at(err, f".{k}" if fields else f"[{k!r}]")
        raise
    return b"".join(sorted(parts))


def _enc_dict(v: dict[object, object], active: set[int]) -> bytes:
    _enter(v, active)
    payload = _pairs(v.items(), active, fields=False)
    active.discard(id(v))
    return _ext(_Tag.DICT, payload)


def _fields_encoder(v: object) -> Callable[[object, set[int]], bytes]:
    """Pydantic models and dataclasses: tagged by class, encoded by their fields."""
    pydantic = sys.modules.get("pydantic")  # no model exists unless pydantic is imported
    if pydantic is not None and isinstance(v, pydantic.BaseModel):
        return _enc_model
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return _enc_dataclass
    return _unsupported


def _enc_object(v: object, pairs: Iterable[tuple[object, object]], active: set[int]) -> bytes:
    _enter(v, active)
    payload = _pack(_type_name(v)) + _pairs(pairs, active, fields=True)
    active.discard(id(v))
    return _ext(_Tag.FIELDS_OBJECT, payload)


def _enc_model(v: object, active: set[int]) -> bytes:
    extra = getattr(v, "__pydantic_extra__", None) or {}
    names = list(type(v).model_fields)  # type: ignore[attr-defined]
    pairs = [(n, getattr(v, n)) for n in names] + list(extra.items())
    return _enc_object(v, pairs, active)


def _enc_dataclass(v: object, active: set[int]) -> bytes:
    pairs = [(f.name, getattr(v, f.name)) for f in dataclasses.fields(v)]  # type: ignore[arg-type]
    return _enc_object(v, pairs, active)


def _dtype_spec(dtype: np.dtype) -> bytes:
    # dtype.str of a structured dtype is only its size ("|V16"); descr names its fields
    return _pack(dtype.str if dtype.fields is None else dtype.descr)


def _enc_np_scalar(v: np.generic, active: set[int]) -> bytes:
    raw = v.tobytes()
    if v.dtype.kind in "fc" and v != v:  # canonical NaN, per part for complex
        a = np.array(v)
        for part in (a.real, a.imag) if a.dtype.kind == "c" else (a,):
            np.copyto(part, np.nan, where=np.isnan(part))
        raw = a.tobytes()
    return _ext(_Tag.NP_SCALAR, _dtype_spec(v.dtype) + _pack(raw))


def _enc_array(a: np.ndarray, active: set[int]) -> bytes:
    if a.dtype.hasobject:
        return _enc_object_array(a, active)
    hasher = xxhash.xxh3_128()
    if a.flags.c_contiguous:
        blocks: Iterable[np.ndarray] = (a,)
    else:  # rows in C order, a bounded copy at a time: block bytes concatenate to C order
        rows = max(1, _ARRAY_BLOCK // max(1, a[0].nbytes))
        blocks = (a[i : i + rows] for i in range(0, a.shape[0], rows))
    for block in blocks:
        if block.nbytes:  # a uint8 view exports any dtype (datetime64 has no buffer format)
            hasher.update(np.ascontiguousarray(block).reshape(-1).view(np.uint8))
    meta = _dtype_spec(a.dtype) + _pack(list(a.shape))
    return _ext(_Tag.NP_ARRAY, meta + _pack(hasher.digest()))


def _enc_object_array(a: np.ndarray, active: set[int]) -> bytes:
    if a.dtype != object:
        raise TypeError(
            f"cannot compute a key for a numpy array of structured dtype {a.dtype} holding "
            "Python objects; use a plain object array or separate arrays per field"
        )
    _enter(a, active)  # an object array can hold itself
    payload = _pack(list(a.shape)) + _items(_Tag.NP_OBJECT_ARRAY, a.flat, active)
    active.discard(id(a))
    return _ext(_Tag.NP_OBJECT_ARRAY, payload)


def _enc_enum(v: enum.Enum, active: set[int]) -> bytes:
    return _ext(_Tag.ENUM, _pack(_type_name(v)) + _pack(v.name))


def _enc_complex(v: complex, active: set[int]) -> bytes:
    return _ext(_Tag.COMPLEX, _enc_float(v.real, active) + _enc_float(v.imag, active))


def _enc_timedelta(v: dt.timedelta, active: set[int]) -> bytes:
    return _ext(_Tag.TIMEDELTA, _pack(v.days) + _pack(v.seconds) + _pack(v.microseconds))


def _packed(tag: int, part: Callable[[Any], object]) -> _Encoder:
    return lambda v, active: _ext(tag, _pack(part(v)))


_Encoder = Callable[[Any, set[int]], bytes]
_iso = operator.methodcaller("isoformat")
# Exact types first (one dict lookup); the subclass list is searched in order, so an
# Enum member is never taken for its int or str value, nor a datetime for a date.
_SUBCLASS_ENCODERS: tuple[tuple[type, _Encoder], ...] = (
    (enum.Enum, _enc_enum),
    (np.generic, _enc_np_scalar),
    (np.memmap, _enc_array),  # other ndarray subclasses (masked, matrix) carry more state
    (int, _enc_int),
    (float, _enc_float),
    (str, _enc_str),
    ((bytes, bytearray, memoryview), _enc_bytes),
    (list, _enc_list),
    (tuple, _enc_tuple),
    ((set, frozenset), _enc_set),
    (dict, _enc_dict),
    (dt.datetime, _packed(_Tag.DATETIME, _iso)),
    (dt.date, _packed(_Tag.DATE, _iso)),
    (dt.time, _packed(_Tag.TIME, _iso)),
    (dt.timedelta, _enc_timedelta),
    (decimal.Decimal, _packed(_Tag.DECIMAL, str)),
    (complex, _enc_complex),
    (pathlib.PurePath, _packed(_Tag.PATH, operator.methodcaller("as_posix"))),
    (uuid.UUID, _packed(_Tag.UUID, operator.attrgetter("bytes"))),
)
_ENCODERS: dict[type, _Encoder] = {
    type(None): lambda v, active: b"\xc0",
    bool: lambda v, active: b"\xc3" if v else b"\xc2",
    np.ndarray: _enc_array,
    **{t: e for t, e in _SUBCLASS_ENCODERS if isinstance(t, type) and t.__module__ == "builtins"},
    bytes: _enc_bytes,
    bytearray: _enc_bytes,
    memoryview: _enc_bytes,
    set: _enc_set,
    frozenset: _enc_set,
    **{t: _enc_np_scalar for t in np.ScalarType if issubclass(t, np.generic)},
}
