"""The heartbeat: one thread per process beating every lease it holds, fork-aware."""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .claims import Lease

__all__ = ["Heartbeat", "heartbeat"]

logger = logging.getLogger(__name__)


class Heartbeat:
    """Beats the leases it keeps every ``interval_s`` seconds, in a daemon thread.

    A forked child gets a heartbeat of its own (threads do not fork): the parent's
    leases are the parent's, and a child must not keep them alive.
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._leases: dict[str, Lease] = {}
        self._mutex = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def keep(self, lease: Lease) -> None:
        """Beat ``lease`` until :meth:`drop`; starts the thread on first use."""
        if not lease.keys:
            return
        with self._mutex:
            self._leases[lease.token] = lease
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="exca-heartbeat", daemon=True
                )
                self._thread.start()

    def drop(self, lease: Lease) -> None:
        with self._mutex:
            self._leases.pop(lease.token, None)

    def lease(self, token: str) -> Lease | None:
        """The lease kept under ``token``, or None (never kept, dropped, or lost)."""
        with self._mutex:
            return self._leases.get(token)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval_s)
            with self._mutex:
                leases = list(self._leases.values())
            for lease in leases:
                try:
                    if not lease.beat():
                        self.drop(lease)
                except OSError as error:  # advisory: a missed beat may cost a duplicate
                    logger.warning("could not beat %r: %s", lease, error)


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
