"""Process-wide reuse of opened ``.npy`` objects: one open and header parse per object file.

Objects are immutable, so what was opened once can serve every later read of the same
file: its parsed header always, and for objects up to :data:`REUSE_MAP_UP_TO` bytes its
read-only memory map too (a read then costs one ``stat`` instead of an open, a header
read and an ``mmap``). Reuse is keyed by path and checked against the file's identity
(device, inode, size, modification time) at every read, so an object that was deleted,
quarantined or replaced is opened afresh (or found missing), exactly as without reuse.

Memory: a kept map holds no memory of its own, but pages a reader touched through it
count in the process's resident set until the map is dropped. Large objects therefore
keep only their header (reading many large arrays one after another keeps memory flat),
and the kept maps are bounded by :data:`KEPT_MAPS_BUDGET` bytes, least recently used
dropped first. Arrays already returned keep their own map alive; dropping one here
never invalidates a value.
"""

from __future__ import annotations

import mmap
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

from .npy import NpyHeader

__all__ = [
    "Opened",
    "REUSE_MAP_UP_TO",
    "KEPT_MAPS_BUDGET",
    "signature",
    "lookup",
    "keep",
    "forget",
    "clear",
]

REUSE_MAP_UP_TO = 16 << 20  # objects up to 16 MiB keep their map (the 200 x 1 MiB read)
KEPT_MAPS_BUDGET = 512 << 20  # bytes of kept maps at most, least recently used dropped
_MAX_HEADERS = 100_000  # headers kept for large objects (about 200 bytes each)

Signature = tuple[int, int, int, int]


def signature(st: os.stat_result) -> Signature:
    """What identifies one published file: a different file at the same path differs."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True, slots=True)
class Opened:
    """An object file as first opened: its identity, header, and map (small objects)."""

    signature: Signature
    header: NpyHeader
    mapping: mmap.mmap | None


_lock = threading.Lock()
_opened: OrderedDict[str, Opened] = OrderedDict()
_kept_bytes = [0]


def lookup(path: str, st: os.stat_result) -> Opened | None:
    """The object at ``path`` as opened before, if the file there is still that one."""
    opened = _opened.get(path)
    if opened is None:
        return None
    if opened.signature != signature(st):
        forget(path)
        return None
    if opened.mapping is not None:
        try:
            _opened.move_to_end(path)  # (atomic: OrderedDict is implemented in C)
        except KeyError:  # another thread dropped it meanwhile: the map is still good
            pass
    return opened


def keep(path: str, opened: Opened) -> None:
    """Remember an opened object for later reads (its map only if small enough)."""
    with _lock:
        old = _opened.pop(path, None)
        if old is not None and old.mapping is not None:
            _kept_bytes[0] -= old.signature[2]
        if opened.mapping is not None:
            _kept_bytes[0] += opened.signature[2]
        elif len(_opened) >= _MAX_HEADERS:
            _opened.popitem(last=False)  # (rare: a process that opened 100k large objects)
        _opened[path] = opened
        while _kept_bytes[0] > KEPT_MAPS_BUDGET:
            _, evicted = _opened.popitem(last=False)
            if evicted.mapping is not None:
                _kept_bytes[0] -= evicted.signature[2]


def forget(path: str) -> None:
    """Forget the object at ``path`` (found damaged: the next read opens it afresh)."""
    with _lock:
        old = _opened.pop(path, None)
        if old is not None and old.mapping is not None:
            _kept_bytes[0] -= old.signature[2]


def clear() -> None:
    """Forget every opened object (maps stay valid for the arrays that use them)."""
    with _lock:
        _opened.clear()
        _kept_bytes[0] = 0


def _after_fork() -> None:
    global _lock  # another thread may have held the lock at the fork: the child needs its own
    _lock = threading.Lock()
    _opened.clear()
    _kept_bytes[0] = 0


os.register_at_fork(after_in_child=_after_fork)  # a child starts with nothing of its parent's
