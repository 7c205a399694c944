"""Spares of a claims folder: files of released claim records that their process keeps
for its next claims, so that a claim creates no file.

Creating a file is the costly system call of a claim: about 50 µs on an idle ext4 disk
here and 150-700 µs while other processes write, where renaming or linking an existing
one costs 6-11 µs. A claimer writes its record into a file of its own, links that file
as the folder's lock and renames it to the claim (``claims._FolderLock``). A process
that claims again and again in one folder (``run(x)`` in a loop) renames the file of a
released claim to a spare's name instead of removing it, and its next claim writes the
record into that spare instead of creating a file.

Invariants (who could break what):

* A spare is named by ``layout.spare_name`` (host, pid, random): claim readers skip the
  name, and only its process writes, links or renames it (a forked child takes none of
  its parent's: :meth:`Spares.take` checks the pid).
* A spare is rewritten only after the claim it was had been released (renamed to the
  spare's name). A reader that opened that claim before its release may still read the
  file, and so the next record: records begin with their token, which the reader checks
  against the name it opened, and a record that does not decode counts as released once
  its name is gone (``claims._record``).
* Removing a spare is always safe: its process creates its next file instead (also
  when the spare goes between its opening and its use: ``FolderLock``). So a process
  removes its spares at exit, and removes the spares of gone processes of this host (a
  killed process leaves its spares behind) when it starts keeping spares; ``Store.gc``
  removes those unchanged for its grace period but those of live processes of its host.
* A process keeps at most ``_MAX_SPARES`` per folder, and only from its second release
  there on: a process that claims once (a pool worker, a Slurm job) leaves no file.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading

from .layout import local_spare_pid, spare_name
from .publish import discard

__all__ = ["Spares", "kept_by_a_live_process_here"]

logger = logging.getLogger(__name__)
_MAX_SPARES = 2  # (a driver's claim, and one of a nested step or another thread)


class Spares:
    """This process's spares in one claims folder."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._pid = os.getpid()
        self._free: list[str] = []
        self._releases = 0
        self._mutex = threading.Lock()

    def take(self) -> str | None:
        """A spare for the next claim's file, or None (the caller creates a file)."""
        if os.getpid() != self._pid:  # (checked first: a lock held at a fork stays held)
            return None
        with self._mutex:
            return self._free.pop() if self._free else None

    def give_back(self, spare: str) -> None:
        """``spare`` was taken but not published: a spare still."""
        with self._mutex:
            self._free.append(spare)

    def keep(self, released: str) -> bool:
        """Rename the file of the claim ``released`` (released now) to a spare's name,
        if this process keeps one more here; False if not (the caller removes it)."""
        if os.getpid() != self._pid:
            return False
        with self._mutex:
            self._releases += 1
            if self._releases < 2 or len(self._free) >= _MAX_SPARES:
                return False
            first = self._releases == 2
        spare = os.path.join(self.folder, spare_name())
        try:
            os.rename(released, spare)
        except OSError:  # (removed meanwhile by a waiter that judged its owner gone)
            return False
        _remove_at_exit(self)
        self.give_back(spare)
        if first:  # a new keeper of spares here: those of gone processes go
            self.sweep()
        return True

    def sweep(self) -> None:
        """Remove the spares in the folder of processes of this host that are gone."""
        try:
            names = os.listdir(self.folder)
        except OSError:
            return
        for name in names:
            pid = local_spare_pid(name)
            if pid is None or pid == self._pid or _alive(pid):
                continue
            try:
                discard(os.path.join(self.folder, name))
            except OSError as error:  # (another user's, in a sticky folder): a name only
                logger.warning("could not remove the spare claim file %s: %s", name, error)

    def remove_all(self) -> None:
        """Remove this process's spares here (at exit)."""
        if os.getpid() != self._pid:
            return
        with self._mutex:
            spares, self._free = self._free, []
        for spare in spares:
            try:
                discard(spare)
            except OSError:  # (folder gone or unwritable at exit): a name left behind
                pass


def kept_by_a_live_process_here(name: str) -> bool:
    """Whether the spare ``name`` belongs to a live process of this host (gc leaves
    those: their process removes them at exit)."""
    pid = local_spare_pid(name)
    return pid is not None and _alive(pid)


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
