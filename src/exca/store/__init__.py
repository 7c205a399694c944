"""exca.store: the content-addressed artifact store under exca's steps.

Values are encoded by named codecs into small entry records and immutable objects named
by the xxh3-128 digest of their bytes. See ``docs/store.md``.
"""

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

# The two codecs of nearly every read load with the package, not on the first read: a
# first cache hit in a fresh process should cost a hit, not imports.
get_codec("npy"), get_codec("msgpack")

# The reports of gc and verify load with them (Store.gc, Store.verify), not with the
# package: a process that reads a cache never collects or verifies it.
_REPORTS = {"GcReport": ".gc", "Problem": ".verify", "VerifyReport": ".verify"}


def __getattr__(name: str) -> object:
    if name in _REPORTS:
        import importlib

        return getattr(importlib.import_module(_REPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
