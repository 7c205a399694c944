"""Opening ``.npy`` object files, once per process: one open and header parse per file.

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
from typing import IO

import numpy as np

from . import npy
from .errors import CorruptArtifactError
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
KEPT_MAPS_BUDGET = 256 << 20  # bytes of kept maps at most (touched pages stay resident)
_MAX_OPENED = 100_000  # objects remembered at most (a header costs about 200 bytes)

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
    try:
        _opened.move_to_end(path)  # (atomic: OrderedDict is implemented in C)
    except KeyError:  # another thread dropped it meanwhile: what it returns is still good
        pass
    return opened


def keep(path: str, opened: Opened) -> None:
    """Remember an opened object for later reads, dropping the least recently used ones
    beyond the budget of kept maps or the number of objects remembered."""
    with _lock:
        _pop(path)
        _opened[path] = opened
        _kept_bytes[0] += _kept_size(opened)
        while _kept_bytes[0] > KEPT_MAPS_BUDGET or len(_opened) > _MAX_OPENED:
            _, evicted = _opened.popitem(last=False)
            _kept_bytes[0] -= _kept_size(evicted)


def forget(path: str) -> None:
    """Forget the object at ``path`` (found damaged: the next read opens it afresh)."""
    with _lock:
        _pop(path)


def _pop(path: str) -> None:  # (with the lock held)
    old = _opened.pop(path, None)
    if old is not None:
        _kept_bytes[0] -= _kept_size(old)


def _kept_size(opened: Opened) -> int:
    return opened.signature[2] if opened.mapping is not None else 0


def clear() -> None:
    """Forget every opened object (maps stay valid for the arrays that use them)."""
    with _lock:
        _opened.clear()
        _kept_bytes[0] = 0


def open_npy(path: str, st: os.stat_result) -> tuple[Opened, mmap.mmap]:
    """Open an object file for the first time: parse its header, map it, and keep both
    (the map only if small, see :mod:`.mapped`)."""
    with open(path, "rb") as handle:
        header = read_header(path, handle)
        if st.st_size != header.data_offset + header.data_size:
            corrupt(path, f"size is {st.st_size} bytes, its header says "
                     f"{header.data_offset + header.data_size}")  # fmt: skip
        mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    kept = mapping if st.st_size <= REUSE_MAP_UP_TO else None
    opened = Opened(signature(st), header, kept)
    keep(path, opened)
    return opened, mapping


def map_file(path: str) -> mmap.mmap:
    with open(path, "rb") as handle:
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


def read_header(path: str, handle: IO[bytes]) -> NpyHeader:
    try:
        return npy.read_header(handle)
    except ValueError as err:
        raise CorruptArtifactError(path, f"unreadable .npy header ({err})") from err


def array_from_buffer(
    header: NpyHeader, buffer: bytes | mmap.mmap, kind: type[np.ndarray] = np.ndarray
) -> np.ndarray:
    # ndarray.__new__ builds a memmap-typed view directly (np.memmap's own constructor
    # opens a file): the same array as ``.view(np.memmap)``, one object less per read
    array = np.ndarray.__new__(
        kind,
        header.shape,
        dtype=header.dtype,
        buffer=buffer,
        offset=header.data_offset,
        order="F" if header.fortran_order else "C",
    )
    array.flags.writeable = False
    return array


def corrupt(path: str, detail: str) -> None:
    """Raise ``CorruptArtifactError`` for the object at ``path``, forgetting it first."""
    forget(path)
    raise CorruptArtifactError(path, detail)


def _after_fork() -> None:
    global _lock  # another thread may have held the lock at the fork: the child needs its own
    _lock = threading.Lock()
    _opened.clear()
    _kept_bytes[0] = 0


os.register_at_fork(after_in_child=_after_fork)  # a child starts with nothing of its parent's
