"""The codec registry: codecs by name, and the automatic choice of one for a value.

Built-in codecs (``msgpack``, ``npy``, ``zarr``, ``nested``, ``pickle``, ``parquet``)
are registered at import; each module is imported the first time its codec is asked
for, and none imports zarr, pandas or pyarrow before it encodes or decodes.

Examples
--------
>>> from exca.store.codecs import choose_codec, get_codec
>>> choose_codec((1, "a")).name
'msgpack'
>>> get_codec("npy").version
1
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from ..errors import UnknownCodecError
from ._common import is_dataframe, is_plain_array, is_zarr_array, loaded_numpy
from .base import Codec, Encoded, ObjectReader, ObjectRef, ObjectWriter

__all__ = [
    "Codec",
    "Encoded",
    "ObjectReader",
    "ObjectRef",
    "ObjectWriter",
    "choose_codec",
    "codec_names",
    "get_codec",
    "register_codec",
]

# name -> (module in this package, class): imported on first use.
_BUILTINS: dict[str, tuple[str, str]] = {
    "msgpack": ("msgpack_codec", "MsgpackCodec"),
    "npy": ("npy_codec", "NpyCodec"),
    "zarr": ("zarr_codec", "ZarrCodec"),
    "nested": ("nested_codec", "NestedCodec"),
    "pickle": ("pickle_codec", "PickleCodec"),
    "parquet": ("parquet_codec", "ParquetCodec"),
}
_codecs: dict[str, Codec] = {}  # loaded built-ins and registered codecs
_custom: list[str] = []  # registered names that are not built-in, in registration order
_lock = threading.Lock()


def register_codec(codec: Codec, *, replace: bool = False) -> None:
    """Make ``codec`` available as ``get_codec(codec.name)`` (and to ``cache_type``).

    Codecs registered under a new name are also offered every value by
    :func:`choose_codec`, before the built-in choice: a value their ``accepts`` takes
    goes to them.

    Parameters
    ----------
    codec
        An object with ``name`` (str), ``version`` (int >= 1), ``accepts``, ``encode``
        and ``decode`` (see :class:`Codec`).
    replace
        Replace the codec already registered (or built in) under that name; otherwise a
        name clash raises ``ValueError``.
    """
    _check_codec(codec)
    with _lock:
        known = codec.name in _codecs or codec.name in _BUILTINS
        if known and not replace:
            raise ValueError(
                f"a codec named {codec.name!r} is already registered "
                f"({_codecs.get(codec.name, 'built in')!r}); choose another name, or pass "
                "replace=True to replace it"
            )
        _codecs[codec.name] = codec
        if codec.name not in _BUILTINS and codec.name not in _custom:
            _custom.append(codec.name)


def get_codec(name: str) -> Codec:
    """The codec registered as ``name``; :class:`UnknownCodecError` if there is none."""
    codec = _codecs.get(name)
    if codec is not None:
        return codec
    if name not in _BUILTINS:
        raise UnknownCodecError(
            f"unknown codec {name!r}; known codecs: {', '.join(codec_names())}. Use one of "
            "them as cache_type, or register yours first with "
            "exca.store.codecs.register_codec(codec) (an object with name, version, "
            "accepts, encode and decode)"
        )
    module_name, class_name = _BUILTINS[name]
    module = importlib.import_module(f"{__name__}.{module_name}")
    with _lock:  # another thread may have loaded it, or a user replaced it, meanwhile
        return _codecs.setdefault(name, getattr(module, class_name)())


def codec_names() -> list[str]:
    """Names of every registered codec, sorted."""
    return sorted({*_BUILTINS, *_codecs})


def choose_codec(value: Any) -> Codec:
    """The codec automatic selection (``cache_type=None``) uses for ``value``.

    Registered (non built-in) codecs whose ``accepts`` takes the value come first.
    Then: a numpy array goes to ``npy`` (``pickle`` for object dtype), a zarr array to
    ``zarr``, a DataFrame to ``parquet`` when it round-trips there (else ``pickle``),
    values made of plain types, numpy scalars and small arrays to ``msgpack``,
    containers holding larger arrays to ``nested``, and anything else to ``pickle``.

    Examples
    --------
    >>> import numpy as np
    >>> [choose_codec(v).name for v in (np.zeros(3), {"x": np.zeros(9999)}, object())]
    ['npy', 'nested', 'pickle']
    """
    for name in list(_custom):
        codec = _codecs[name]
        if codec.accepts(value):
            return codec
    return get_codec(_builtin_choice(value))


def _builtin_choice(value: Any) -> str:
    if is_plain_array(value):
        return "pickle" if value.dtype.hasobject else "npy"
    if is_zarr_array(value):
        return "zarr"
    if is_dataframe(value):
        return "parquet" if get_codec("parquet").accepts(value) else "pickle"
    np = loaded_numpy()
    if np is not None and isinstance(value, np.ndarray):  # a subclass (masked array...)
        return "pickle"  # (keeps what the subclass adds)
    for name in ("msgpack", "nested"):
        if get_codec(name).accepts(value):
            return name
    return "pickle"


def _check_codec(codec: Any) -> None:
    if not isinstance(codec, Codec):
        raise TypeError(
            f"register_codec expects a codec (name, version, accepts, encode, decode), got "
            f"{type(codec).__module__}.{type(codec).__qualname__}"
        )
    if not isinstance(codec.name, str) or not codec.name:
        raise TypeError(f"a codec name must be a non-empty str, got {codec.name!r}")
    if type(codec.version) is not int or codec.version < 1:
        raise TypeError(f"codec {codec.name!r}: version must be an int >= 1, got {codec.version!r}")
