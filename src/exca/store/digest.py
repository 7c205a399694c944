"""Content digests: xxh3-128 of bytes (or of a folder's files), as 32 lowercase hex characters."""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import xxhash

__all__ = ["DIGEST_HEX_LENGTH", "digest_bytes", "new_hasher", "tree_digest"]

DIGEST_HEX_LENGTH = 32


def digest_bytes(data: bytes | bytearray | memoryview | mmap.mmap) -> str:
    """Return the xxh3-128 hex digest of ``data``."""
    return xxhash.xxh3_128_hexdigest(data)


def new_hasher() -> xxhash.xxh3_128:
    """Return an incremental xxh3-128 hasher (``update`` then ``hexdigest``)."""
    return xxhash.xxh3_128()


def tree_digest(folder: Path) -> tuple[str, int]:
    """Digest of a folder: its sorted relative file paths with their contents' digests."""
    manifest = new_hasher()
    total = 0
    for current, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(current, name)
            with open(path, "rb") as handle:
                data = handle.read()
            total += len(data)
            rel = os.path.relpath(path, folder).replace(os.sep, "/")
            manifest.update(f"{rel}\0{digest_bytes(data)}\n".encode())
    return manifest.hexdigest(), total
