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
* The claimer's own file is one of its spares when it has one (``claim_spares``): a
  process claiming again and again creates no file.
* A record begins with its token: a reader that finds another token in a claim's file
  (released since it was listed, and rewritten as a spare) takes it as released.
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
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

import msgpack

from .claim_spares import Spares
from .errors import ReadOnlyStoreError
from .folder_lock import FolderLock
from .layout import CLAIMS_DIR, CLAIMS_LOCK, claim_name, claim_name_parts
from .owner import Owner, current_owner
from .publish import discard, publish_bytes, translate_write_errors

__all__ = ["Claim", "ClaimTable", "Lease"]

logger = logging.getLogger(__name__)
_LIST_TRIES = 5
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
        self._folder_path = Path(self.folder)  # (for errors: built once)
        self.read_only = read_only
        self._records: dict[str, tuple[Owner, frozenset[str]] | None] = {}  # by token
        self._mutex = threading.Lock()  # (the record memo, between threads)
        self._ignored: set[str] = set()  # gone owners' records we could not remove
        self.spares = Spares(self.folder)

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
                record: tuple[Owner, frozenset[str]] | None = _decode(handle.read(), token)
        except (FileNotFoundError, _OtherToken):
            return _VANISHED  # released (or beaten) meanwhile: listed again
        except (OSError, ValueError, KeyError, TypeError) as error:
            if not os.path.exists(path):  # released, its file rewritten as it was read
                return _VANISHED
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
        spare = self.spares.take()
        record = _encode(token, owner, keys)
        lock = FolderLock(os.path.join(self.folder, CLAIMS_LOCK), record, spare)
        try:
            with translate_write_errors(self._folder_path, "claim items"), lock:
                current = self.claims()
                self._evict(current, evict)
                for replaced in replacing:
                    if replaced in current:
                        self._remove(current.pop(replaced))
                held = _held(current, keys, mine)
                free = [key for key in keys if key not in held] if held else list(keys)
                if free:  # the lock's record becomes the claim: one rename publishes both
                    lock.publish(path, _encode(token, owner, free) if held else None)
        finally:
            if lock.spare is not None and not lock.published:
                self.spares.give_back(lock.spare)  # (unused: no claim was published)
        return Lease(self, token, frozenset(free), held, path)

    def split(self, lease: Lease, parts: Sequence[Sequence[str]]) -> list[Lease]:
        """Replace ``lease``'s record by one record per part of its keys (owned alike),
        under the folder's lock: a waiter sees the keys claimed throughout."""
        owner = current_owner()
        leases = []
        lock = FolderLock(os.path.join(self.folder, CLAIMS_LOCK), b"")
        with translate_write_errors(self._folder_path, "claim items"), lock:
            for part in parts:
                token = os.urandom(8).hex()
                path = os.path.join(self.folder, claim_name(token, 0))
                publish_bytes(path, _encode(token, owner, part), durable=False)
                leases.append(Lease(self, token, frozenset(part), {}, path))
            lease.release()
        return leases

    def hand_over(self, lease: Lease, owner: Owner, token: str) -> Lease | None:
        """Replace ``lease``'s record by one of the same keys naming ``owner`` (a job
        that runs them, whose claim must outlive this process), of token ``token``,
        under the folder's lock; None if the record is gone already (its worker took
        it over). A waiter sees the keys claimed throughout."""
        path = os.path.join(self.folder, claim_name(token, 0))
        lock = FolderLock(
            os.path.join(self.folder, CLAIMS_LOCK), _encode(token, owner, sorted(lease.keys))
        )
        with translate_write_errors(self._folder_path, "hand claims over"), lock:
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
        lock = FolderLock(os.path.join(self.folder, CLAIMS_LOCK), b"")
        with translate_write_errors(self._folder_path, "take over claims"), lock:
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
        self.released = False
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
        """Remove the record (call once the claimed keys' entries are published); its
        file may be kept as a spare of the table (renamed to a spare's name)."""
        with self._mutex:
            if self.released:
                return
            if self.keys and not self.lost and not self.table.spares.keep(self.path):
                discard(self.path)
            self.lost = self.released = True
        self.table.forget(self.token)


_OWNER_FIELDS: dict[Owner, dict[str, object]] = {}  # (asdict is slow; owners are few)


def _encode(token: str, owner: Owner, keys: Sequence[str]) -> bytes:
    fields = _OWNER_FIELDS.get(owner)
    if fields is None:
        fields = _OWNER_FIELDS[owner] = dataclasses.asdict(owner)
    # the token first: a reader racing the rewrite of a spare reads a new one there
    record = {"token": token, "format": _FORMAT, "owner": fields, "keys": list(keys)}
    return msgpack.packb(record, use_bin_type=True)


class _OtherToken(Exception):
    """The file read under a claim's name holds another claim's record (see
    ``claim_spares``: the claim was released and its file rewritten since listed)."""


def _decode(data: bytes, token: str | None = None) -> tuple[Owner, frozenset[str]]:
    """The owner and keys of a record; raises :class:`_OtherToken` if it names another
    token than ``token`` (records of exca before tokens were recorded name none)."""
    record = msgpack.unpackb(data, raw=False)
    if not isinstance(record, dict) or record.get("format") != _FORMAT:
        raise ValueError(f"not a claim record of format {_FORMAT}")
    recorded = record.get("token")
    if token is not None and recorded is not None and recorded != token:
        raise _OtherToken(recorded)
    keys = record["keys"]
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise TypeError("claim record keys must be a list of strings")
    return Owner(**record["owner"]), frozenset(keys)


_VANISHED: tuple[Owner, frozenset[str]] = (Owner("", 0, None, None), frozenset())
_NO_CLAIM = Claim("", -1, Owner("", 0, None, None), frozenset(), "")
