"""Object generations: a marker renewed after any object file of a store is removed or
replaced, so that a process reusing what it opened knows when to look at the files again.

Objects are immutable and content-addressed, so the bytes at an object's path never
change while it is published: what can change is whether a file is there, and which.
exca changes that in three places only, and each renews the marker of its store once
done: ``gc`` (removes unreferenced objects), ``verify(fix=True)`` (quarantines damaged
ones) and a writer that finds a damaged object where it would publish its own (replaces
it). A reader that saw the marker unchanged since it last checked an object's file knows
that exca removed or replaced no file of that store meanwhile (see :mod:`.mapped`).

The marker is ``objects/.generation``, an empty file; :func:`renew` publishes a new one
over it (a new file every time: renaming needs only the folder to be writable, as
removing an object does, whoever created the old marker). A reader keeps the marker it
saw open: once renewed, that file has no name left (``st_nlink == 0``), whatever inode
number or time stamps the new one gets. :func:`current` costs one ``fstat``.

Not seen: files removed, replaced or truncated by hand, and a remover that crashes before
renewing. Readers of a block of values through kept maps then serve what they mapped
(bytes of the right digest, unless the file was damaged in place, which a fresh
header-checked read would serve too); single reads check each file (``ObjectStore``).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import OrderedDict

from .layout import temp_name
from .publish import discard

__all__ = ["MARKER", "current", "renew"]

MARKER = ".generation"
_MAX_WATCHED = 64  # store folders whose marker stays open (one file descriptor each)
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC


class _Watch:
    """The marker of one objects folder as last seen: held open (None: there was none)."""

    __slots__ = ("fd", "number")

    def __init__(self, fd: int | None, number: int) -> None:
        self.fd = fd
        self.number = number


_lock = threading.Lock()  # held while a descriptor is used: another thread may close it
_watched: OrderedDict[str, _Watch] = OrderedDict()
_numbers = itertools.count(1)  # generation numbers, unique within the process


def current(objects_dir: str) -> int:
    """A number for the objects of ``objects_dir`` as they are now: the same as an
    earlier call's only if no removal or replacement was recorded there in between.

    A number is never reused for another folder or another state; a folder watched
    long ago (beyond the most recent ones) gets a new number, as if it had changed.
    """
    with _lock:
        watch = _watched.get(objects_dir)
        if watch is not None and _unchanged(watch, objects_dir):
            _watched.move_to_end(objects_dir)
            return watch.number
        return _look_again(objects_dir, watch)


def _unchanged(watch: _Watch, objects_dir: str) -> bool:
    if watch.fd is None:  # no marker when last looked: still none?
        return not os.path.exists(os.path.join(objects_dir, MARKER))
    try:
        return os.fstat(watch.fd).st_nlink > 0
    except OSError:  # (a stale handle on a network filesystem): as if renewed
        return False


def _look_again(objects_dir: str, old: _Watch | None) -> int:  # (with the lock held)
    if old is not None and old.fd is not None:
        os.close(old.fd)
    try:
        fd: int | None = os.open(os.path.join(objects_dir, MARKER), _OPEN_FLAGS)
    except OSError:  # none yet (no object was ever removed there), or unreadable
        fd = None
    watch = _watched[objects_dir] = _Watch(fd, next(_numbers))
    _watched.move_to_end(objects_dir)
    while len(_watched) > _MAX_WATCHED:
        _, evicted = _watched.popitem(last=False)
        if evicted.fd is not None:
            os.close(evicted.fd)
    return watch.number


def renew(objects_dir: str) -> None:
    """Record that object files of ``objects_dir`` were removed or replaced: call it
    after the change (a reader that looks before it may still serve what it mapped,
    as one that read just before the change)."""
    marker = os.path.join(objects_dir, MARKER)
    tmp = temp_name(marker)
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444))
    except FileNotFoundError:  # no objects folder: nothing was there to remove
        return
    try:
        os.replace(tmp, marker)
    except BaseException:
        discard(tmp)
        raise


def _after_fork() -> None:
    global _lock  # another thread may have held the lock at the fork: the child needs its own
    _lock = threading.Lock()
    for watch in _watched.values():
        if watch.fd is not None:
            os.close(watch.fd)
    _watched.clear()


os.register_at_fork(after_in_child=_after_fork)
