"""exca.store: the content-addressed artifact store under exca's steps.

Values are encoded by named codecs into small entry records and immutable objects named
by the xxh3-128 digest of their bytes. See ``docs/store.md``.

The reports of ``Store.gc`` and ``Store.verify`` (``GcReport``, ``Problem``,
``VerifyReport``) load with their modules, on first use: a process that only reads and
writes values does not import them.
"""

from __future__ import annotations

import importlib
import typing as _tp

from .cachedict import CacheDict
from .codecs import codec_names, get_codec, register_codec
from .codecs.base import Codec, Encoded, ObjectReader, ObjectRef, ObjectWriter
from .entries import Entry
from .errors import (
    CodecError,
    CorruptArtifactError,
    FormatVersionError,
    NotAStoreFolderError,
    ReadFolderError,
    ReadOnlyStoreError,
    ShareRefusedError,
    StoreError,
    UnknownCodecError,
)
from .keys import key_bytes, key_of
from .namespace import Namespace
from .store import Store

# The codec of small values loads with the package, not on the first read: a first cache
# hit in a fresh process should cost a hit, not imports. (``npy`` loads with the first
# array read: it imports numpy, which reading small values does not need.)
get_codec("msgpack")

if _tp.TYPE_CHECKING:
    from .gc import GcReport
    from .verify import Problem, VerifyReport

# The reports of gc and verify load with them (Store.gc, Store.verify), not with the
# package: a process that reads a cache never collects or verifies it.
_ON_FIRST_USE = {"GcReport": "gc", "Problem": "verify", "VerifyReport": "verify"}


def __getattr__(name: str) -> _tp.Any:
    module = _ON_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "CacheDict",
    "Codec",
    "CodecError",
    "CorruptArtifactError",
    "Encoded",
    "Entry",
    "FormatVersionError",
    "GcReport",
    "Namespace",
    "NotAStoreFolderError",
    "ObjectReader",
    "ObjectRef",
    "ObjectWriter",
    "Problem",
    "ReadFolderError",
    "ReadOnlyStoreError",
    "ShareRefusedError",
    "Store",
    "StoreError",
    "UnknownCodecError",
    "VerifyReport",
    "codec_names",
    "get_codec",
    "key_bytes",
    "key_of",
    "register_codec",
]
