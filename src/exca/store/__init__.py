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
from .gc import GcReport
from .keys import key_bytes, key_of
from .namespace import Namespace
from .store import Store
from .verify import Problem, VerifyReport

# The codec of small values loads with the package, not on the first read: a first cache
# hit in a fresh process should cost a hit, not imports. (``npy`` loads with the first
# array read: it imports numpy, which reading small values does not need.)
get_codec("msgpack")

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
