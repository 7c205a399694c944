"""Opening ``.npy`` object files, once per process: one open and header parse per file.

Objects are immutable, so what was opened once can serve every later read of the same
file: its parsed header always, and for objects up to :data:`REUSE_MAP_UP_TO` bytes its
read-only memory map too, as a finished array (a read then returns a view of it instead
of an open, a header read and an ``mmap``). Each read gets its own view: reshaping one in
place changes no other.

What is checked before a kept map is served, and why that suffices. The bytes at an
object's path never change while it is published (content addressing: the name is the
digest of the bytes, and a writer never rewrites a file, see :mod:`.objects`); what can
change is whether a file is there, and which one: ``gc`` removes an unreferenced object,
``verify(fix=True)`` quarantines a damaged one, a writer replaces a damaged one it found
(``clear_cache``, ``force`` and new writes change entries, never an object's file). So:

* a single read (:meth:`~.objects.ObjectStore.open_array`) checks the file's identity
  (device, inode, size, modification time) with one ``stat``: an object deleted,
  quarantined, truncated or replaced by anyone is opened afresh, or found missing;
* a block of reads (:class:`~.block_reads.BlockReader`, taken once per block of
  values) checks the store's generation (:mod:`.generations`) once: a kept map is served
  without a ``stat`` only if its file was checked under the same generation, i.e. if
  exca removed or replaced no object of that store since. Otherwise the file is checked
  as a single read does, and the map kept if it is still that file.

A block is thus served as the store was when the block began (a change during the block
is seen by the next one, as a value decoded just before a change). Files removed or cut
by hand are not seen by block reads while the map is kept: a removed file's map still
holds the bytes of its digest; a file truncated under a map faults when its lost pages
are read, as it would under any array already returned.

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
from typing import IO, Final

import numpy as np

from . import npy
from .errors import CorruptArtifactError
from .npy import NpyHeader

__all__ = [
    "Opened",
    "REUSE_MAP_UP_TO",
    "KEPT_MAPS_BUDGET",
    "UNCHECKED",
    "signature",
    "lookup",
    "kept",
    "confirm",
    "reopen",
    "keep",
    "forget",
    "clear",
]

REUSE_MAP_UP_TO = 16 << 20  # objects up to 16 MiB keep their map (the 200 x 1 MiB read)
KEPT_MAPS_BUDGET = 256 << 20  # bytes of kept maps at most (touched pages stay resident)
UNCHECKED = 0  # no generation (generation numbers start at 1): checked by a single read
_MAX_OPENED = 100_000  # objects remembered at most (a header costs about 200 bytes)

Signature = tuple[int, int, int, int]


def signature(st: os.stat_result) -> Signature:
    """What identifies one published file: a different file at the same path differs."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class Opened:
    """An object file as first opened: its identity, header and, for a small object, its
    map and the whole array over it (read-only; readers get views of it).

    ``checked`` is the generation of its store's objects (:mod:`.generations`) under
    which the file was last found to be this one, or :data:`UNCHECKED`.

    Never changed once made (:func:`confirm` makes a new one): other threads read it
    without the lock. A plain slotted class, not a frozen dataclass: this module loads
    with the first array read of a process, and a dataclass's generated methods cost
    more to create than that read.
    """

    __slots__ = ("signature", "header", "mapping", "array", "checked")

    def __init__(
        self,
        signature: Signature,
        header: NpyHeader,
        mapping: mmap.mmap | None,
        array: np.ndarray | None,
        checked: int = UNCHECKED,
    ) -> None:
        self.signature: Final[Signature] = signature
        self.header: Final[NpyHeader] = header
        self.mapping: Final[mmap.mmap | None] = mapping
        self.array: Final[np.ndarray | None] = array
        self.checked: Final[int] = checked


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
    _touch(path)
    return opened


def kept(path: str) -> Opened | None:
    """The object at ``path`` as opened before, unchecked: for a reader that knows from
    its ``checked`` generation that the file is still that one (see the module doc)."""
    opened = _opened.get(path)
    if opened is not None:
        try:
            _opened.move_to_end(path)  # (as _touch: inlined, as block reads call it per value)
        except KeyError:
            pass
    return opened


def _touch(path: str) -> None:
    try:
        _opened.move_to_end(path)  # (atomic: OrderedDict is implemented in C)
    except KeyError:  # another thread dropped it meanwhile: what it returns is still good
        pass


def confirm(path: str, opened: Opened, checked: int) -> Opened:
    """Record that the file at ``path`` was found to be ``opened``'s under generation
    ``checked`` (a later block read under that generation needs no ``stat``)."""
    if opened.checked == checked:
        return opened
    confirmed = Opened(opened.signature, opened.header, opened.mapping, opened.array, checked)
    with _lock:
        if _opened.get(path) is opened:  # (else dropped or replaced meanwhile: left so)
            _opened[path] = confirmed
    return confirmed


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


def open_npy(path: str, st: os.stat_result, checked: int = UNCHECKED) -> tuple[Opened, np.ndarray]:
    """Open an object file for the first time: parse its header, map it, keep both (the
    map only if small, see :mod:`.mapped`) and return the array (the caller's own)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)  # (system calls only: a first read
    try:  # of many small arrays costs about what they cost, not Python file objects)
        head = os.pread(fd, npy.HEADER_READ, 0)
        header = _parse_header(path, head, fd)
        if st.st_size != header.data_offset + header.data_size:
            corrupt(path, f"size is {st.st_size} bytes, its header says "
                     f"{header.data_offset + header.data_size}")  # fmt: skip
        mapping = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    finally:
        os.close(fd)
    array = array_from_buffer(header, mapping, np.memmap)
    if st.st_size > REUSE_MAP_UP_TO:
        opened = Opened(signature(st), header, None, None, checked)
    else:  # kept: the caller gets a view, so that nothing it does changes the kept array
        opened = Opened(signature(st), header, mapping, array, checked)
        array = array.view()
    keep(path, opened)
    return opened, array


def _parse_header(path: str, head: bytes, fd: int) -> NpyHeader:
    try:
        size = npy.header_size(head)
        if size > len(head):  # (a long structured dtype: read the rest)
            head += os.pread(fd, size - len(head), len(head))
        return npy.parse_header(head)
    except ValueError as err:
        raise CorruptArtifactError(path, f"unreadable .npy header ({err})") from err


def reopen(path: str, opened: Opened) -> np.ndarray:
    """A new array for another read of the object ``opened`` before at ``path``: a view
    of its kept array, or (a large object) an array over a map of its own."""
    if opened.array is not None:
        return opened.array.view()
    return array_from_buffer(opened.header, map_file(path), np.memmap)


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
