"""Spares of a claims folder: files of released claim records that their process keeps
to back its next claims, so that a claim creates no file.

Creating a file is the costly system call of a claim: about 50 µs on an idle ext4 disk
here and 150-700 µs while other processes write, where linking an existing file costs
about 6 µs. A process that claims again and again in one folder (``run(x)`` in a loop)
keeps the file of a released claim as a spare; its next claim writes the record into
the spare and makes the folder's lock by linking it (``link`` fails when the lock
exists: as exclusive as ``O_EXCL``, on NFS too); the lock's rename then publishes the
record, as a created lock's does (see ``claims._FolderLock``).

Invariants (who could break what):

* A spare is named by ``layout.spare_name`` (host, pid, random): claim readers skip the
  name, and only its process writes or links it (a forked child takes none of its
  parent's: :meth:`Spares.take` checks the pid).
* A spare is *free* (its name is its only link) or *backs* one lock or claim (which is
  a second link to it). It is rewritten only when free, after the claim it backed was
  released (its name removed). A reader that opened that claim before its release may
  still read the file, and so the next record: records begin with their token, which
  the reader checks against the name it opened, and a record that does not decode
  counts as released once its name is gone (``claims._record``).
* Removing a spare, free or not, is always safe: its process creates its next lock
  instead, and a claim it backed keeps its own link. So a process removes its spares
  at exit, and a claimer removes, under the folder's lock, the listed spares whose
  process on this host is gone (a killed process leaves its spares behind).
* A process keeps at most ``_MAX_SPARES`` per folder, and only from its second release
  there on: a process that claims once (a pool worker, a Slurm job) leaves no file.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Iterable

from .layout import local_spare_pid, spare_name
from .publish import discard

__all__ = ["Spares"]

logger = logging.getLogger(__name__)
_MAX_SPARES = 2  # (a driver's claim, and one of a nested step or another thread)


class Spares:
    """This process's spares in one claims folder."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._pid = os.getpid()
        self._free: list[str] = []
        self._kept: set[str] = set()  # every spare made here (free or backing a claim)
        self._releases = 0
        self._unremovable: set[str] = set()  # others' spares we could not remove
        self._mutex = threading.Lock()

    def take(self) -> str | None:
        """A free spare to back the next lock, or None (it backs it until given back)."""
        if os.getpid() != self._pid:  # (checked first: a lock held at a fork stays held)
            return None
        with self._mutex:
            return self._free.pop() if self._free else None

    def give_back(self, spare: str) -> None:
        """``spare`` is free again: what it backed was released or never published."""
        with self._mutex:
            if spare in self._kept:
                self._free.append(spare)

    def lost(self, spare: str) -> None:
        """``spare`` was removed (by a sweep or with its folder): forget it."""
        with self._mutex:
            self._kept.discard(spare)

    def keep(self, released: str) -> bool:
        """Rename the file of the claim ``released`` (released now) into a free spare,
        if this process keeps one more here; False if not (the caller removes it)."""
        if os.getpid() != self._pid:
            return False
        with self._mutex:
            self._releases += 1
            if self._releases < 2 or len(self._kept) >= _MAX_SPARES:
                return False
            spare = os.path.join(self.folder, spare_name())
            self._kept.add(spare)  # (reserved under the mutex: at most _MAX_SPARES)
        try:
            os.rename(released, spare)
        except OSError:  # (removed meanwhile by a waiter that judged its owner gone)
            self.lost(spare)
            return False
        _remove_at_exit(self)
        self.give_back(spare)
        return True

    def sweep(self, names: Iterable[str]) -> None:
        """Remove the spares among ``names`` (a listing of the folder) whose process on
        this host is gone."""
        for name in names:
            pid = local_spare_pid(name)
            if pid is None or pid == self._pid or name in self._unremovable or _alive(pid):
                continue
            try:
                discard(os.path.join(self.folder, name))
            except OSError as error:  # (another user's, in a sticky folder): a name only
                self._unremovable.add(name)
                logger.warning("could not remove the spare claim file %s: %s", name, error)

    def remove_all(self) -> None:
        """Remove every spare this process made here (at exit)."""
        if os.getpid() != self._pid:
            return
        with self._mutex:
            spares, self._free = list(self._kept), []
            self._kept.clear()
        for spare in spares:
            try:
                discard(spare)
            except OSError:  # (folder gone or unwritable at exit): a name left behind
                pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # (PermissionError: another user's live process)
        return True
    return True


_AT_EXIT: dict[int, list[Spares]] = {}  # by pid: a forked child removes only its own


def _remove_at_exit(spares: Spares) -> None:
    # (no lock: one that a thread held at a fork would stay held in the child; two
    # threads racing here register the handler twice, which is harmless)
    pid = os.getpid()
    known = _AT_EXIT.get(pid)
    if known is None:
        known = _AT_EXIT.setdefault(pid, [])
        atexit.register(_remove_all, pid)
    if spares not in known:
        known.append(spares)


def _remove_all(pid: int) -> None:
    if pid == os.getpid():
        for spares in _AT_EXIT.pop(pid, []):
            spares.remove_all()
