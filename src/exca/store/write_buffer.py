"""Write buffers of batches: entries held back, published late by one thread per process."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .entries import Entry

__all__ = ["WriteBuffer", "watch", "forget"]


@dataclass(slots=True, eq=False)
class WriteBuffer:
    """One thread's batched entries by key, published by ``publish``.

    Its owner adds and flushes; the process's flusher thread (see :func:`watch`)
    publishes the entries once the oldest waited ``flush_every`` seconds, so that a
    slow item does not hold back the entries finished before it (a crash would lose
    them). Both hold ``lock``; readers make single dictionary lookups, and an entry
    leaves ``entries`` only once published, so they find it here or in its table.
    """

    publish: Callable[[list[Entry]], None]
    flush_every: float | None = None
    entries: dict[str, Entry] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    since: float = 0.0  # monotonic time the oldest entry held was added
    error: Exception | None = None  # a late flush's, raised by the owner's next flush

    def add(self, entry: Entry) -> int:
        """Hold ``entry`` (replacing one of the same key); returns how many are held."""
        with self.lock:
            if not self.entries:
                self.since = time.monotonic()
            self.entries[entry.key] = entry
            return len(self.entries)

    def flush(self) -> None:
        """Publish the entries held now, then raise what a late flush raised, if any."""
        with self.lock:
            error, self.error = self.error, None
            self._publish_held()
        if error is not None:
            raise error

    def flush_if_old(self, now: float) -> None:
        with self.lock:
            if not self.entries or self.flush_every is None:
                return
            if now - self.since >= self.flush_every:
                try:
                    self._publish_held()
                except Exception as error:  # noqa: BLE001 - not lost: the owner raises it
                    self.error = self.error or error

    def _publish_held(self) -> None:
        if self.entries:
            try:
                self.publish(list(self.entries.values()))
            finally:  # (a failed publish says which entries it could not publish)
                self.entries.clear()


class _Flusher:
    """Flushes the old buffers it watches, in a daemon thread started on first use."""

    def __init__(self) -> None:
        self._buffers: set[WriteBuffer] = set()
        self._mutex = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, buffer: WriteBuffer) -> None:
        with self._mutex:
            self._buffers.add(buffer)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="exca-flush", daemon=True)
                self._thread.start()

    def forget(self, buffer: WriteBuffer) -> None:
        with self._mutex:
            self._buffers.discard(buffer)

    def _run(self) -> None:
        while True:
            with self._mutex:
                buffers = list(self._buffers)
            periods = [b.flush_every for b in buffers if b.flush_every is not None]
            time.sleep(min(periods, default=1.0) / 4)  # a buffer waits at most 1.25 periods
            now = time.monotonic()
            for buffer in buffers:
                buffer.flush_if_old(now)


_FLUSHER: tuple[int, _Flusher] | None = None


def _flusher() -> _Flusher:
    """This process's flusher (threads do not fork: a forked child makes its own)."""
    global _FLUSHER
    if _FLUSHER is None or _FLUSHER[0] != os.getpid():
        _FLUSHER = (os.getpid(), _Flusher())
    return _FLUSHER[1]


def watch(buffer: WriteBuffer) -> None:
    """Publish ``buffer``'s entries whenever the oldest waited its ``flush_every``."""
    _flusher().watch(buffer)


def forget(buffer: WriteBuffer) -> None:
    _flusher().forget(buffer)
