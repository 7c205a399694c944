"""Claim records: which process computes which keys of a namespace now (advisory).

Invariants (who could break what):

* One record per claim (a unit of work), naming its owner and all its keys, never one
  file per key: a claim of 10,000 keys costs one small file.
* Records are published whole (temporary + rename) and their keys never change; the
  heartbeat renames ``<token>.<n>`` to ``<token>.<n+1>``, so a waiter sees a claim beat
  from a directory listing, on its own clock, without comparing clocks across hosts.
* A claim is created under the folder's lock (a hard link to the claimer's own file,
  atomic on NFS; no ``fcntl``), held for a listing and a write: two claimers of one key
  cannot both see it free (unless a live lock was broken as stale: a duplicate claim).
* Everything here is advisory: a lost, damaged or wrongly evicted record costs
  duplicate work, never a wrong value (entries are published atomically either way).
  The owner releases its claim only after its entries are published; the other order
  would let a waiter see neither and compute again.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

import msgpack

from .errors import ReadOnlyStoreError
from .layout import CLAIMS_DIR, CLAIMS_LOCK, claim_name, claim_name_parts, temp_name
from .owner import Owner, current_owner
from .publish import discard, publish_bytes, translate_write_errors

__all__ = ["Claim", "ClaimTable", "Lease"]

logger = logging.getLogger(__name__)
_LIST_TRIES = 5
_LOCK_FLAGS = os.O_CREAT | os.O_EXCL | os.O_WRONLY
_LOCK_STALE_S = 10.0  # a lock unchanged this long (on our clock) was left by a dead claimer
_FORMAT = 1


@dataclasses.dataclass(frozen=True, slots=True)
class Claim:
    """A claim record as listed: its token, heartbeat count, owner and keys."""

    token: str
    beat: int
    owner: Owner
    keys: frozenset[str]
    path: str

    def __str__(self) -> str:
        return f"claim {self.path} of {len(self.keys)} item(s) by {self.owner}"


class ClaimTable:
    """The claim records of one namespace folder (``folder/claims``)."""

    def __init__(self, folder: str | os.PathLike[str], *, read_only: bool = False) -> None:
        self.folder = os.path.join(os.fspath(folder), CLAIMS_DIR)
        self.read_only = read_only
        self._records: dict[str, tuple[Owner, frozenset[str]] | None] = {}  # by token
        self._mutex = threading.Lock()  # (the record memo, between threads)
        self._ignored: set[str] = set()  # gone owners' records we could not remove

    def __repr__(self) -> str:
        return f"ClaimTable({self.folder!r})"

    def claims(self) -> dict[str, Claim]:
        """Every readable claim now, by token (an unreadable record is skipped, with a
        warning: losing it costs duplicate work only)."""
        found: dict[str, Claim] = {}
        names: list[str] = []
        for _ in range(_LIST_TRIES):  # again if a record beat (was renamed) as it was read
            try:
                names = os.listdir(self.folder)
            except (FileNotFoundError, NotADirectoryError):
                return {}
            if self._read_all(names, found):
                break
        listed = {name.partition(".")[0] for name in names}
        with self._mutex:  # records no longer listed were released: forget them
            for token in self._records.keys() - listed:
                del self._records[token]
        return found

    def _read_all(self, names: list[str], found: dict[str, Claim]) -> bool:
        """Add the claims of ``names`` to ``found``; False if one vanished meanwhile."""
        whole = True
        for name in names:
            parts = claim_name_parts(name)
            if parts is None:
                continue
            token, beat = parts
            path = os.path.join(self.folder, name)
            record = self._record(token, path)
            if record is _VANISHED:
                whole = False
            elif token in self._ignored:
                continue
            elif record is not None and beat >= found.get(token, _NO_CLAIM).beat:
                found[token] = Claim(token, beat, record[0], record[1], path)
        return whole

    def _record(self, token: str, path: str) -> tuple[Owner, frozenset[str]] | None:
        with self._mutex:
            if token in self._records:
                return self._records[token]
        try:
            with open(path, "rb") as handle:
                record = _decode(handle.read())
        except FileNotFoundError:
            return _VANISHED  # released, or beaten meanwhile: listed again
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.warning("ignoring unreadable claim record %s: %s", path, error)
            record = None
        with self._mutex:
            self._records[token] = record
        return record

    def claim(
        self,
        keys: Sequence[str],
        *,
        evict: Iterable[Claim] = (),
        mine: Collection[str] = (),
        replacing: Collection[str] = (),
    ) -> Lease:
        """Claim the ``keys`` that no other claim holds, in one record.

        Under the folder's lock: first removes each claim of ``evict`` that has not beaten
        since it was listed (its owner was found dead), and the claims of tokens
        ``replacing`` (a worker taking over its driver's claim, or the one its driver
        handed to its job: the record then names the worker), then records the free
        keys. Claims whose token is in ``mine`` (held by the caller already) leave their
        keys free. The returned lease says which keys are the caller's and who holds
        the others.
        """
        if self.read_only:
            raise ReadOnlyStoreError(self.folder, "claim items", reason="opened read-only")
        owner, token = current_owner(), os.urandom(8).hex()
        path = os.path.join(self.folder, claim_name(token, 0))
        lock = _FolderLock(os.path.join(self.folder, CLAIMS_LOCK), _encode(owner, keys))
        with translate_write_errors(Path(self.folder), "claim items"), lock:
            current = self.claims()
            self._evict(current, evict)
            for replaced in replacing:
                if replaced in current:
                    self._remove(current.pop(replaced))
            held = _held(current, keys, mine)
            free = [key for key in keys if key not in held] if held else list(keys)
            if free:  # the lock's record becomes the claim: one rename publishes both
                lock.publish(path, _encode(owner, free) if held else None)
        return Lease(self, token, frozenset(free), held, path)

    def split(self, lease: Lease, parts: Sequence[Sequence[str]]) -> list[Lease]:
        """Replace ``lease``'s record by one record per part of its keys (owned alike),
        under the folder's lock: a waiter sees the keys claimed throughout."""
        owner = current_owner()
        leases = []
        lock = _FolderLock(os.path.join(self.folder, CLAIMS_LOCK), b"")
        with translate_write_errors(Path(self.folder), "claim items"), lock:
            for part in parts:
                token = os.urandom(8).hex()
                path = os.path.join(self.folder, claim_name(token, 0))
                publish_bytes(path, _encode(owner, part), durable=False)
                leases.append(Lease(self, token, frozenset(part), {}, path))
            lease.release()
        return leases

    def hand_over(self, lease: Lease, owner: Owner, token: str) -> Lease | None:
        """Replace ``lease``'s record by one of the same keys naming ``owner`` (a job
        that runs them, whose claim must outlive this process), of token ``token``,
        under the folder's lock; None if the record is gone already (its worker took
        it over). A waiter sees the keys claimed throughout."""
        path = os.path.join(self.folder, claim_name(token, 0))
        lock = _FolderLock(
            os.path.join(self.folder, CLAIMS_LOCK), _encode(owner, sorted(lease.keys))
        )
        with translate_write_errors(Path(self.folder), "hand claims over"), lock:
            if lease.token not in self.claims():
                return None
            lock.publish(path, None)
            lease.release()
        return Lease(self, token, lease.keys, {}, path, owner)

    def evict(self, silent: Collection[Claim], *, dead: Collection[Claim] = ()) -> None:
        """Remove, under the folder's lock, each claim of ``silent`` that has not beaten
        since it was listed (its owner stopped beating), and each claim of ``dead``
        whatever its heartbeat (its owner is known dead: a worker may outlive its job)."""
        if not silent and not dead:
            return
        lock = _FolderLock(os.path.join(self.folder, CLAIMS_LOCK), b"")
        with translate_write_errors(Path(self.folder), "take over claims"), lock:
            current = self.claims()
            for claim in dead:
                if claim.token in current:
                    self._remove(current.pop(claim.token))
            self._evict(current, silent)

    def _evict(self, current: dict[str, Claim], stale: Iterable[Claim]) -> None:
        for claim in stale:
            if claim.token in current and current[claim.token].beat == claim.beat:
                self._remove(claim)
                del current[claim.token]

    def _remove(self, claim: Claim) -> None:
        """Remove a gone owner's record; one that cannot be removed (another user's, in
        a sticky or unwritable folder) is ignored from now on: its keys are computed
        here, perhaps twice, never an error (claims are advisory)."""
        try:
            discard(claim.path)
        except OSError as error:
            logger.warning(
                "could not remove %s (%s): ignoring it; its items are computed here, "
                "perhaps twice; delete that file to stop this warning",
                claim,
                error,
            )
            self._ignored.add(claim.token)

    def forget(self, token: str) -> None:
        """Drop the memo of a released record (its token is never used again)."""
        with self._mutex:
            self._records.pop(token, None)


def _held(
    current: dict[str, Claim], keys: Sequence[str], mine: Collection[str]
) -> dict[str, Claim]:
    """The claim of ``current`` (not among ``mine``) holding each of ``keys`` it holds."""
    held: dict[str, Claim] = {}
    for other in current.values():
        if other.token not in mine:
            held.update(dict.fromkeys(other.keys.intersection(keys), other))
    return held


class Lease:
    """The caller's own claim: its keys, beaten by :meth:`beat`, ended by :meth:`release`
    (or one this process handed over to a job: ``owner``, beaten while this process
    lives; see :meth:`ClaimTable.hand_over`).

    ``held`` names, for each requested key it could not claim, the claim holding it.
    """

    def __init__(
        self,
        table: ClaimTable,
        token: str,
        keys: frozenset[str],
        held: dict[str, Claim],
        path: str,
        owner: Owner | None = None,
    ) -> None:
        self.table = table
        self.token = token
        self.keys = keys
        self.held = held
        self.path = path
        self.owner = owner  # None: this process; else the job it was handed over to
        self.beats = 0
        self.lost = False  # evicted by a waiter that judged us dead (we compute on anyway)
        self._mutex = threading.Lock()

    def __repr__(self) -> str:
        return f"Lease({self.path!r}, {len(self.keys)} key(s))"

    def beat(self) -> bool:
        """Rename the record to the next heartbeat count; False once it is gone."""
        with self._mutex:
            if self.lost or not self.keys:
                return False
            head = self.path.rpartition(os.sep)[0]
            new = os.path.join(head, claim_name(self.token, self.beats + 1))
            try:
                os.rename(self.path, new)
            except FileNotFoundError:
                self.lost = True  # (replaced by its worker, or evicted by a waiter)
                logger.info("claim %s was removed by another process", self.path)
                return False
            self.beats += 1
            self.path = new
            return True

    def release(self) -> None:
        """Remove the record (call once the claimed keys' entries are published)."""
        with self._mutex:
            if self.keys and not self.lost:
                discard(self.path)
            self.lost = True
        self.table.forget(self.token)


class _FolderLock:
    """Lock of a claims folder held for a listing and a write, with no ``fcntl``: the
    record is written to a file of our own (a unique temporary name), which is then
    hard-linked to the lock's name (``link`` fails if the name exists: atomic on local
    disks and NFS). :meth:`publish` renames our own file to the claim's name, so a
    claim file only ever holds its claimer's record; the lock's name is then removed
    (as on exit) if it still names our file.

    A lock unchanged for ``_LOCK_STALE_S`` on our clock was left by a claimer that died
    between its system calls; it is broken (renamed away, then removed). A slow holder
    may see its lock broken although it lives, and another claimer take the name
    meanwhile: the holder never removes a lock name that is not its file. Breaking a
    live lock by mistake costs at most a duplicate claim (two claimers listing at
    once), never an error or a record under another claimer's name.
    """

    def __init__(self, path: str, record: bytes) -> None:
        self.path = path
        self.record = record
        self._own = ""  # our file (a temporary name until published)
        self._fd = -1

    def __enter__(self) -> _FolderLock:
        self._own = temp_name(self.path)
        try:
            self._fd = os.open(self._own, _LOCK_FLAGS, 0o644)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self._fd = os.open(self._own, _LOCK_FLAGS, 0o644)
        try:
            _write_all(self._fd, self.record, 0)
            self._take()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _take(self) -> None:
        pause, seen, since = 0.0005, None, time.monotonic()
        while True:
            try:
                os.link(self._own, self.path)
                return
            except FileExistsError:
                if os.fstat(self._fd).st_nlink == 2:
                    return  # (NFS: the reply to a link that was done got lost)
            stamp = _stamp(self.path)
            if stamp != seen:
                seen, since = stamp, time.monotonic()
            elif stamp is not None and time.monotonic() - since > _LOCK_STALE_S:
                self._break(stamp)
                continue
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def publish(self, path: str, record: bytes | None) -> None:
        """Publish the lock's record (or ``record`` instead) as ``path``; releases it."""
        if record is not None:
            os.ftruncate(self._fd, 0)
            _write_all(self._fd, record, 0)
        os.rename(self._own, path)  # (our own file: no other claimer renames it)
        self._own = ""
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
            if self._own:
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


def _encode(owner: Owner, keys: Sequence[str]) -> bytes:
    record = {"format": _FORMAT, "owner": dataclasses.asdict(owner), "keys": list(keys)}
    return msgpack.packb(record, use_bin_type=True)


def _decode(data: bytes) -> tuple[Owner, frozenset[str]]:
    record = msgpack.unpackb(data, raw=False)
    if not isinstance(record, dict) or record.get("format") != _FORMAT:
        raise ValueError(f"not a claim record of format {_FORMAT}")
    keys = record["keys"]
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise TypeError("claim record keys must be a list of strings")
    return Owner(**record["owner"]), frozenset(keys)


_VANISHED: tuple[Owner, frozenset[str]] = (Owner("", 0, None, None), frozenset())
_NO_CLAIM = Claim("", -1, Owner("", 0, None, None), frozenset(), "")
