"""The lock of a claims folder: mutual exclusion on NFS without ``fcntl`` (advisory)."""

from __future__ import annotations

import logging
import os
import time

from .layout import temp_name
from .publish import discard

__all__ = ["FolderLock"]

logger = logging.getLogger("exca.store.claims")
_LOCK_FLAGS = os.O_CREAT | os.O_EXCL | os.O_WRONLY
_LOCK_STALE_S = 10.0  # a lock unchanged this long (on our clock) was left by a dead claimer


class FolderLock:
    """Lock of a claims folder held for a listing and a write, with no ``fcntl``: the
    record is written to a file of our own (a unique temporary name), which is then
    hard-linked to the lock's name (``link`` fails if the name exists: atomic on local
    disks and NFS). :meth:`publish` renames our own file to the claim's name, so a
    claim file only ever holds its claimer's record; the lock's name is then removed
    (as on exit) if it still names our file.

    Our file is a ``spare`` of the claimer when one is given (an inode reused: no file
    created, see ``claim_spares``), else a new temporary; a spare not published stays a
    spare.

    A lock unchanged for ``_LOCK_STALE_S`` on our clock was left by a claimer that died
    between its system calls; it is broken (renamed away, then removed). A slow holder
    may see its lock broken although it lives, and another claimer take the name
    meanwhile: the holder never removes a lock name that is not its file. Breaking a
    live lock by mistake costs at most a duplicate claim (two claimers listing at
    once), never an error or a record under another claimer's name.
    """

    def __init__(self, path: str, record: bytes, spare: str | None = None) -> None:
        self.path = path
        self.record = record
        self.spare = spare  # (None if it was found removed: a new file is used)
        self.published = False
        self._own = ""  # our file (a temporary name or the spare, until published)
        self._fd = -1

    def __enter__(self) -> FolderLock:
        self._open_own()
        try:
            _write_all(self._fd, self.record, 0)
            if self._own == self.spare:  # (it held an older record)
                os.ftruncate(self._fd, len(self.record))
            self._take()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _open_own(self) -> None:
        if self.spare is not None:
            try:
                self._fd, self._own = os.open(self.spare, os.O_WRONLY), self.spare
                return
            except FileNotFoundError:  # (removed meanwhile: costs a new file only)
                self.spare = None
        self._own = temp_name(self.path)
        try:
            self._fd = os.open(self._own, _LOCK_FLAGS, 0o644)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self._fd = os.open(self._own, _LOCK_FLAGS, 0o644)

    def _take(self) -> None:
        pause, seen, since = 0.0005, None, time.monotonic()
        while True:
            try:
                os.link(self._own, self.path)
                return
            except FileExistsError:
                if os.fstat(self._fd).st_nlink == 2:
                    return  # (NFS: the reply to a link that was done got lost)
            except FileNotFoundError:
                if self._own != self.spare:
                    raise
                self._replace_removed_spare()  # (by gc, since it was opened)
                continue
            stamp = _stamp(self.path)
            if stamp != seen:
                seen, since = stamp, time.monotonic()
            elif stamp is not None and time.monotonic() - since > _LOCK_STALE_S:
                self._break(stamp)
                continue
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _replace_removed_spare(self) -> None:
        """Our spare was removed after we opened it: a new file of ours instead."""
        os.close(self._fd)
        self._fd, self.spare = -1, None
        self._open_own()
        _write_all(self._fd, self.record, 0)

    def publish(self, path: str, record: bytes | None) -> None:
        """Publish the lock's record (or ``record`` instead) as ``path``; releases it."""
        if record is not None:
            os.ftruncate(self._fd, 0)
            _write_all(self._fd, record, 0)
        os.rename(self._own, path)  # (our own file: no other claimer renames it)
        self._own, self.published = "", True
        self.__exit__()

    def _break(self, stale: tuple[int, int]) -> None:
        aside = temp_name(self.path)
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return  # broken by another waiter, or released meanwhile
        moved = _stamp(aside)
        discard(aside)
        if moved == stale:
            logger.warning("broke the claims lock %s, left by a process that died", self.path)
        else:  # released and taken again since our last look: that holder copes
            logger.info("broke the claims lock %s, taken again meanwhile", self.path)

    def __exit__(self, *exc: object) -> None:
        if self._fd < 0:
            return
        try:  # our file stays open until then: its inode cannot be reused meanwhile
            if _is_open_file(self.path, self._fd):
                discard(self.path)  # (only our own: a broken lock may be another's now)
            if self._own and self._own != self.spare:  # (a spare not published stays one)
                discard(self._own)
        finally:
            os.close(self._fd)
            self._fd = -1


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:  # (a write may be partial)
        done = os.pwrite(fd, view, offset)
        view, offset = view[done:], offset + done


def _stamp(path: str) -> tuple[int, int] | None:
    """``(inode, mtime)`` of ``path``, None if it is gone."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_mtime_ns


def _is_open_file(path: str, fd: int) -> bool:
    """Whether ``path`` names the file open as ``fd``."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)
