"""``PackSet``: the packs published in one folder, listed again only when it changes.

Packs are immutable and named by their digest, so a pack opened once is reused for as
long as it is listed. The listing itself is reused while the folder's time stamp (its
modification time and inode) is unchanged, and is checked with one ``stat`` per lookup:
a pack published or removed by another process changes the stamp, and the next lookup
sees it. Two changes within one clock tick of the file system share a stamp, so a
stamp younger than ``TRUSTED_AGE_S`` when read proves nothing: the folder is listed
again at every lookup until its stamp is older.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .entries import decode_entry, key_digest
from .layout import PACK_SUFFIX
from .packs import Pack

__all__ = ["PackSet", "TRUSTED_AGE_S"]

TRUSTED_AGE_S = 2.0  # a packs-folder time stamp older than this is trusted to reveal changes


class PackSet:
    """The packs now published in ``folder`` (a table's ``packs`` folder)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder  # (a plain string: pathlib costs more than the stat here)
        self._packs: dict[str, Pack] = {}
        self._listed: tuple[Pack, ...] = ()
        self._mtime_ns = -1
        self._inode = -1
        self._stamp_is_recent = True

    def current(self) -> tuple[Pack, ...]:
        """The packs now published: one ``stat`` when nothing changed (every lookup's
        path), a listing and the opening of new packs otherwise."""
        try:
            stat = os.stat(self.folder)
        except (FileNotFoundError, NotADirectoryError):
            self._forget()
            return ()
        if (
            stat.st_mtime_ns == self._mtime_ns
            and stat.st_ino == self._inode
            and not self._stamp_is_recent
        ):
            return self._listed
        return self._relist(stat)

    def _relist(self, stat: os.stat_result) -> tuple[Pack, ...]:
        """List and open the packs, and remember the stamp ``stat`` read before: a change
        made after that read gives the next lookup another stamp, and a new listing."""
        for _ in range(5):  # a merge may remove packs between listing and opening
            if self._load():
                break
            try:
                stat = os.stat(self.folder)
            except (FileNotFoundError, NotADirectoryError):
                self._forget()
                return ()
        self._mtime_ns, self._inode = stat.st_mtime_ns, stat.st_ino
        self._stamp_is_recent = time.time() - stat.st_mtime_ns / 1e9 < TRUSTED_AGE_S
        self._listed = tuple(self._packs.values())
        return self._listed

    def _load(self) -> bool:
        """Open the packs listed now (reusing those open); False if one vanished."""
        try:
            names = sorted(n for n in os.listdir(self.folder) if n.endswith(PACK_SUFFIX))
        except (FileNotFoundError, NotADirectoryError):
            self._packs = {}
            return True
        packs: dict[str, Pack] = {}
        complete = True
        for name in names:
            try:
                packs[name] = self._packs.get(name) or Pack.open(
                    Path(self.folder, name), key_of=_record_key
                )
            except FileNotFoundError:
                complete = False
        self._packs = packs
        return complete

    def _forget(self) -> None:
        self._packs, self._listed = {}, ()
        self._mtime_ns = self._inode = -1
        self._stamp_is_recent = True


def _record_key(record: bytes) -> bytes:
    """The digest of the key an entry record holds (a damaged pack index is rebuilt so)."""
    return key_digest(decode_entry(record, "a pack record").key)
