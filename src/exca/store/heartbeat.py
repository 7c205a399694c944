"""The heartbeat: one thread per process beating every lease it holds, fork-aware."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .claims import Lease

__all__ = ["Heartbeat", "heartbeat"]

logger = logging.getLogger(__name__)


class Heartbeat:
    """Beats the leases it keeps every ``interval_s`` seconds, in a daemon thread; a
    lease kept with an ``ended`` probe is released instead, at the first beat that finds
    its work ended (the work's entries are published by then).

    A forked child gets a heartbeat of its own (threads do not fork): the parent's
    leases are the parent's, and a child must not keep them alive.
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._leases: dict[str, Lease] = {}
        self._ended: dict[str, Callable[[], bool]] = {}
        self._mutex = threading.RLock()  # (a finalizer may drop a lease while it is held)
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def keep(self, lease: Lease, ended: Callable[[], bool] | None = None) -> None:
        """Beat ``lease`` until :meth:`drop`, or until ``ended()`` says its work has
        ended (then release it); starts the thread on first use."""
        if not lease.keys:
            return
        with self._mutex:
            self._leases[lease.token] = lease
            if ended is not None:
                self._ended[lease.token] = ended
            thread = None
            if self._thread is None:
                thread = self._thread = threading.Thread(
                    target=self._run, name="exca-heartbeat", daemon=True
                )
        if thread is not None:  # (outside the mutex: a finalizer run by the new thread's
            thread.start()  # first garbage collection may drop a lease, taking it)

    def drop(self, lease: Lease) -> None:
        with self._mutex:
            self._leases.pop(lease.token, None)
            self._ended.pop(lease.token, None)

    def lease(self, token: str) -> Lease | None:
        """The lease kept under ``token``, or None (never kept, dropped, or lost)."""
        with self._mutex:
            return self._leases.get(token)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval_s)
            with self._mutex:
                leases = [(lease, self._ended.get(token)) for token, lease in self._leases.items()]
            for lease, ended in leases:
                try:
                    if ended is not None and _has_ended(ended, lease):
                        self.drop(lease)
                        lease.release()
                    elif not lease.beat():
                        self.drop(lease)
                except OSError as error:  # advisory: a missed beat may cost a duplicate
                    logger.warning("could not beat %r: %s", lease, error)


def _has_ended(ended: Callable[[], bool], lease: Lease) -> bool:
    try:
        return ended()
    except Exception as error:  # noqa: BLE001 - advisory: the lease beats on, then
        logger.warning("cannot tell whether the work of %r has ended: %s", lease, error)
        return False


_HEARTBEAT: tuple[int, Heartbeat] | None = None
_DEFAULT_INTERVAL_S = 10.0  # (until a caller that keeps a lease sets it)


def heartbeat(interval_s: float | None = None) -> Heartbeat:
    """This process's heartbeat (a forked child makes its own); ``interval_s`` applies
    from the next beat on (None: unchanged, for a caller that only drops or looks up)."""
    global _HEARTBEAT
    pid = os.getpid()
    if _HEARTBEAT is None or _HEARTBEAT[0] != pid:
        _HEARTBEAT = (pid, Heartbeat(_DEFAULT_INTERVAL_S if interval_s is None else interval_s))
    beats = _HEARTBEAT[1]
    if interval_s is not None:
        beats.interval_s = interval_s
    return beats
