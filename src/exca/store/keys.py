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
  large array is hashed in place (in bounded blocks if not C-contiguous), never copied
  into the encoding. Its bytes are taken as they are, NaN payloads included.

numpy is not imported here: no value can be a numpy object before the process imports
numpy, so the numpy encoders are added to the tables the first time a value of a type
not in them is met once numpy is loaded (keys of plain values cost no numpy import).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import functools
import operator
import pathlib
import sys
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import msgpack
import xxhash

if TYPE_CHECKING:
    import numpy as np

__all__ = ["KEY_FORMAT_VERSION", "key_bytes", "key_of"]

KEY_FORMAT_VERSION = 1

_Encoder = Callable[[Any, set[int]], bytes]
_hexdigest = xxhash.xxh3_128_hexdigest
# A shared Packer is 4x faster than msgpack.packb. Sharing its buffer is only safe
# because, under the GIL, packing the plain values given to it runs no Python code; a
# free-threaded interpreter would race on it, so it gets the stateless packb instead.
_gil = getattr(sys, "_is_gil_enabled", lambda: True)()
_pack: Callable[[object], bytes] = msgpack.Packer().pack if _gil else msgpack.packb
_NAN = b"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00"  # msgpack float64 of the quiet NaN 0x7ff8...
_FIXEXT = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}
_ARRAY_BLOCK = 1 << 24  # at most this many bytes are copied to hash a non-contiguous array
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
    >>> key_of({"a": 1, "b": 2}) == key_of({"b": 2, "a": 1})
    True
    """
    kind = type(value)
    if kind is str or kind is int or (kind is float and value == value):
        try:  # the hot path (item uids): plain msgpack is their encoding, one C call
            return _hexdigest(_pack(value))
        except (UnicodeEncodeError, OverflowError):  # lone surrogates, huge ints: tagged
            pass
    return _hexdigest(key_bytes(value))


def key_bytes(value: object) -> bytes:
    """Return the canonical type-tagged msgpack encoding that :func:`key_of` hashes.

    It is the same in every process, run and platform: it never uses ``hash()``, dict or
    set iteration order, or ``PYTHONHASHSEED``.

    Raises
    ------
    TypeError
        If ``value`` holds a type with no canonical encoding (named in the message).
    ValueError
        If ``value`` contains itself, or is nested too deeply to encode.

    Examples
    --------
    >>> key_bytes(5), key_bytes(5.0)[:1], key_bytes(True), key_bytes("x")
    (b'\\x05', b'\\xcb', b'\\xc3', b'\\xa1x')
    """
    try:
        return _encode(value, set())
    except RecursionError:
        raise ValueError(
            "cannot compute a key: the value is nested deeper than Python's recursion "
            "limit; flatten it, or key a smaller description of it"
        ) from None
    except (TypeError, ValueError) as err:
        path = getattr(err, "_exca_key_path", None)
        if path:
            err.add_note(f"while computing a key, at value{''.join(reversed(path))}")
        raise


def _encode(v: object, active: set[int]) -> bytes:
    """Encode ``v``; ``active`` holds the ids of the containers being encoded."""
    encoder = _ENCODERS.get(type(v))
    if encoder is None:
        if not _numpy_added and "numpy" in sys.modules:
            _add_numpy_encoders()
            return _encode(v, active)
        encoder = next((e for t, e in _SUBCLASS_ENCODERS if isinstance(v, t)), None)
    return (encoder or _fields_encoder(v))(v, active)


def _ext(code: int, payload: bytes) -> bytes:
    """Return the msgpack ext value: the bytes ``msgpack.packb(ExtType(...))`` gives."""
    n = len(payload)
    head = _FIXEXT.get(n)
    if head is not None:
        return bytes((head, code)) + payload
    if n < 0x100:
        return bytes((0xC7, n, code)) + payload
    if n < 0x10000:
        return b"\xc8" + n.to_bytes(2, "big") + bytes((code,)) + payload
    return b"\xc9" + n.to_bytes(4, "big") + bytes((code,)) + payload


def _type_name(v: object) -> str:
    return f"{type(v).__module__}.{type(v).__qualname__}"


def _at(err: Exception, where: str) -> None:
    """Record on ``err``, innermost first, where in the value it happened."""
    if not hasattr(err, "_exca_key_path"):
        err._exca_key_path = []  # type: ignore[attr-defined]
    err._exca_key_path.append(where)  # type: ignore[attr-defined]


def _unsupported(v: object, active: set[int]) -> bytes:
    raise TypeError(
        f"cannot compute a key for a value of type {_type_name(v)}: it has no canonical "
        "encoding; define item_uid() on the step (or convert the value), or pass a "
        f"supported type: {_SUPPORTED}"
    )


def _enc_str(v: str, active: set[int]) -> bytes:
    try:
        return _pack(v)
    except UnicodeEncodeError:  # lone surrogates have no UTF-8 form
        return _ext(_Tag.SURROGATE_STR, v.encode("utf-8", "surrogatepass"))


def _enc_int(v: int, active: set[int]) -> bytes:
    try:
        return _pack(v)
    except OverflowError:  # beyond msgpack's [-2**63, 2**64): minimal two's complement
        return _ext(_Tag.BIG_INT, v.to_bytes((v.bit_length() + 8) // 8, "big", signed=True))


def _enc_float(v: float, active: set[int]) -> bytes:
    return _NAN if v != v else _pack(v)


def _enc_bytes(v: bytes | bytearray | memoryview, active: set[int]) -> bytes:
    return _pack(v.tobytes() if isinstance(v, memoryview) else bytes(v))


def _joined(
    v: Iterable[object], active: set[int], sort: bool = False, where: str = "[{}]"
) -> bytes:
    parts, i = [], 0
    try:
        for i, x in enumerate(v):  # noqa: B007 (i names the failing element)
            parts.append(_encode(x, active))
    except (TypeError, ValueError) as err:
        _at(err, where.format(i))
        raise
    return b"".join(sorted(parts) if sort else parts)


def _pairs(pairs: Iterable[tuple[object, object]], active: set[int], where: str) -> bytes:
    """Concatenate sorted key + value encodings; encodings are prefix-free, so this sorts
    by key encoding, then by value encoding (two NaN keys tie on the key)."""
    parts, k = [], None
    try:
        for k, x in pairs:
            parts.append(_encode(k, active) + _encode(x, active))
    except (TypeError, ValueError) as err:
        _at(err, where.format(k))
        raise
    return b"".join(sorted(parts))


def _fields(v: Any) -> list[tuple[object, object]]:
    if dataclasses.is_dataclass(v):
        return [(f.name, getattr(v, f.name)) for f in dataclasses.fields(v)]
    extra = v.__pydantic_extra__ or {}  # a pydantic model, by its fields, never its json
    return [(n, getattr(v, n)) for n in type(v).model_fields] + list(extra.items())


def _dtype_spec(dtype: np.dtype) -> bytes:
    # a structured dtype's .str is only its size ("|V16"); its descr names the fields
    return _pack(dtype.str if dtype.fields is None else dtype.descr)


def _object_array(a: np.ndarray, active: set[int]) -> bytes:
    if a.dtype != object:
        raise TypeError(
            f"cannot compute a key for a numpy array of structured dtype {a.dtype} holding "
            "Python objects; use a plain object array, or one array per field"
        )
    return _pack(list(a.shape)) + _joined(a.flat, active, where=".flat[{}]")


def _container(tag: int, payload: Callable[[Any, set[int]], bytes]) -> _Encoder:
    """Encoder of a type that can hold itself, directly or not: it is tracked in
    ``active`` while its parts are encoded. Tuples and frozensets need no tracking, as
    any cycle through them passes through a mutable container too."""
    if tag in (_Tag.TUPLE, _Tag.FROZENSET):
        return lambda v, active: _ext(tag, payload(v, active))

    def encode(v: object, active: set[int]) -> bytes:
        if id(v) in active:
            raise ValueError(
                f"cannot compute a key of a recursive value: a {_type_name(v)} contains "
                "itself; a key needs a finite tree: break the cycle or key a description"
            )
        active.add(id(v))
        data = payload(v, active)
        active.discard(id(v))
        return _ext(tag, data)

    return encode


def _fields_encoder(v: object) -> _Encoder:
    """Pydantic models and dataclasses are tagged by class and encoded by their fields."""
    pydantic = sys.modules.get("pydantic")  # no model exists unless pydantic is imported
    is_model = pydantic is not None and isinstance(v, pydantic.BaseModel)
    if is_model or (dataclasses.is_dataclass(v) and not isinstance(v, type)):
        return _enc_fields
    return _unsupported


_enc_fields = _container(
    _Tag.FIELDS_OBJECT, lambda v, active: _pack(_type_name(v)) + _pairs(_fields(v), active, ".{}")
)


def _enc_np_scalar(v: np.generic, active: set[int]) -> bytes:
    raw = v.tobytes()
    if v.dtype.kind in "fc" and v != v:  # canonical NaN, part by part for complex
        a = np.array(v)
        for part in (a.real, a.imag) if a.dtype.kind == "c" else (a,):
            np.copyto(part, np.nan, where=np.isnan(part))
        raw = a.tobytes()
    return _ext(_Tag.NP_SCALAR, _dtype_spec(v.dtype) + _pack(raw))


def _enc_array(a: np.ndarray, active: set[int]) -> bytes:
    if a.dtype.hasobject:  # element by element; an object array can hold itself
        return _enc_object_array(a, active)
    hasher = xxhash.xxh3_128()
    blocks: Iterable[np.ndarray] = (a,)
    if not a.flags.c_contiguous:  # blocks of rows, each copied to C order, in row order
        rows = max(1, _ARRAY_BLOCK // max(1, a[0].nbytes))
        blocks = (a[i : i + rows] for i in range(0, a.shape[0], rows))
    for block in blocks:
        if block.nbytes:  # a uint8 view exports any dtype (datetime64 has no buffer format)
            hasher.update(np.ascontiguousarray(block).reshape(-1).view(np.uint8).data)
    meta = _dtype_spec(a.dtype) + _pack(list(a.shape))
    return _ext(_Tag.NP_ARRAY, meta + _pack(hasher.digest()))


_enc_object_array = _container(_Tag.NP_OBJECT_ARRAY, _object_array)


def _enc_complex(v: complex, active: set[int]) -> bytes:
    return _ext(_Tag.COMPLEX, _enc_float(v.real, active) + _enc_float(v.imag, active))


def _packed(tag: int, part: Callable[[Any], object]) -> _Encoder:
    return lambda v, active: _ext(tag, _pack(part(v)))


_iso = operator.methodcaller("isoformat")
_sorted = functools.partial(_joined, sort=True, where="{{...}}")
# Searched in order when the exact type is not in _ENCODERS, so an Enum member is never
# taken for its int or str value, nor a datetime for a date, nor a numpy float64 for a
# float. ndarray subclasses other than memmap (masked, matrix) carry more than their
# bytes and are refused.
_SUBCLASS_ENCODERS: tuple[tuple[type | tuple[type, ...], _Encoder], ...] = (
    (enum.Enum, _packed(_Tag.ENUM, lambda v: [_type_name(v), v.name])),
    # (numpy's scalars and memmap come here, once numpy is loaded: _add_numpy_encoders)
    (int, _enc_int),
    (float, _enc_float),
    (str, _enc_str),
    ((bytes, bytearray, memoryview), _enc_bytes),
    (list, _container(_Tag.LIST, _joined)),
    (tuple, _container(_Tag.TUPLE, _joined)),
    (set, _container(_Tag.SET, _sorted)),
    (frozenset, _container(_Tag.FROZENSET, _sorted)),
    (dict, _container(_Tag.DICT, lambda v, active: _pairs(v.items(), active, "[{!r:.60}]"))),
    (dt.datetime, _packed(_Tag.DATETIME, _iso)),
    (dt.date, _packed(_Tag.DATE, _iso)),
    (dt.time, _packed(_Tag.TIME, _iso)),
    (dt.timedelta, _packed(_Tag.TIMEDELTA, lambda v: [v.days, v.seconds, v.microseconds])),
    (decimal.Decimal, _packed(_Tag.DECIMAL, str)),
    (complex, _enc_complex),
    (pathlib.PurePath, _packed(_Tag.PATH, operator.methodcaller("as_posix"))),
    (uuid.UUID, _packed(_Tag.UUID, operator.attrgetter("bytes"))),
)
_ENCODERS: dict[type, _Encoder] = {
    **{t: e for t, e in _SUBCLASS_ENCODERS if isinstance(t, type)},
    **{t: _enc_bytes for t in (bytes, bytearray, memoryview)},
    type(None): lambda v, active: b"\xc0",
    bool: lambda v, active: b"\xc3" if v else b"\xc2",
}
_numpy_added = False


def _add_numpy_encoders() -> None:
    """Add numpy's types to the tables (once numpy is loaded; idempotent).

    Its scalars and memmap go right after ``Enum`` in the subclass search, before
    ``int`` and ``float``: a numpy float64 is a float, and must not be keyed as one.
    """
    global _SUBCLASS_ENCODERS, _numpy_added, np
    import numpy as np  # (the numpy encoders below read this global)

    scalars = {t: _enc_np_scalar for t in np.sctypeDict.values() if issubclass(t, np.generic)}
    _ENCODERS.update({**scalars, np.ndarray: _enc_array, np.memmap: _enc_array})
    first, *rest = _SUBCLASS_ENCODERS
    _SUBCLASS_ENCODERS = (first, (np.generic, _enc_np_scalar), (np.memmap, _enc_array), *rest)
    _numpy_added = True
