"""Content digests: xxh3-128 of bytes, as 32 lowercase hex characters."""

from __future__ import annotations

import mmap

import xxhash

__all__ = ["DIGEST_HEX_LENGTH", "digest_bytes", "new_hasher"]

DIGEST_HEX_LENGTH = 32


def digest_bytes(data: bytes | bytearray | memoryview | mmap.mmap) -> str:
    """Return the xxh3-128 hex digest of ``data``."""
    return xxhash.xxh3_128_hexdigest(data)


def new_hasher() -> xxhash.xxh3_128:
    """Return an incremental xxh3-128 hasher (``update`` then ``hexdigest``)."""
    return xxhash.xxh3_128()
