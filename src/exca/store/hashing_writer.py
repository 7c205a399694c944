"""File wrappers for writing objects: bounded write calls, content hashed as it is written."""

from __future__ import annotations

import os
from typing import IO, TYPE_CHECKING

from .digest import new_hasher

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["OVERLAP_FROM", "HashingWriter", "Writer"]

_CHUNK = 64 << 20  # bytes per write call
# Below this, an array is hashed before it is written, on the caller's thread: handing the
# hash to a thread cost more than it saved up to 64 MiB on our 2-core machines (16 MiB:
# 8.4 ms against 5.4 ms hashed first, np.save 3.6 ms; 64 MiB: 30 ms against 22 ms, np.save
# 22 ms; medians of fresh processes, interleaved, load 3-5), and hashing first lets a
# writer skip content already stored and rename its temporary within the fan-out folder.
OVERLAP_FROM = 64 << 20


class Writer:
    """File-like wrapper writing all it is given, in calls of at most ``_CHUNK`` bytes."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        self._write_chunks(view)
        return len(view)

    def _write_chunks(self, view: memoryview) -> None:
        write = self._handle.write
        for start in range(0, len(view), _CHUNK):
            part = view[start : start + _CHUNK]
            done = write(part) or 0
            while done < len(part):  # unbuffered writes may be partial
                done += write(part[done:]) or 0

    def flush(self) -> None:
        self._handle.flush()


class HashingWriter(Writer):
    """:class:`Writer` hashing everything written through it.

    A large write is hashed whole in a helper thread while it is written: xxh3 and file
    writes both release the GIL, so the digest costs little more than the write. (One
    hand-off per write, not per chunk: waiting at every chunk for the slower of the two
    cost a tenth of the throughput.)
    """

    def __init__(self, handle: IO[bytes]) -> None:
        super().__init__(handle)
        self.hasher = new_hasher()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        if len(view) >= OVERLAP_FROM:
            hashed = _hashing_thread().submit(self.hasher.update, view)
            try:
                self._write_chunks(view)
            finally:  # the hasher and the caller's buffer are free only once it is done
                hashed.exception()  # (waits; a failed write's error is the one raised)
            hashed.result()
        else:
            self.hasher.update(view)
            self._write_chunks(view)
        self.size += len(view)
        return len(view)


_HASHING: tuple[int, ThreadPoolExecutor] | None = None


def _hashing_thread() -> ThreadPoolExecutor:
    """One helper thread per process (a forked child makes its own: threads do not fork)."""
    global _HASHING
    if _HASHING is None or _HASHING[0] != os.getpid():
        from concurrent.futures import ThreadPoolExecutor  # (only large writes need it)

        _HASHING = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="exca-hash"))
    return _HASHING[1]
