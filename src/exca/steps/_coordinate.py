"""Compute once: which keys of a dispatch this driver computes, and waiting for the others.

The driver asks the coordinator before executing a dispatch (:meth:`Coordinator.claim`):
the keys no live worker owns are claimed in one record of the store
(``exca.store.claims``) and handed to the backend as units, each carrying the claim's
token to its worker (:func:`working_under`). Once its own units have ended the driver
waits, bounded, for the keys others own (:meth:`Coordinator.wait`): each ends stored by
its owner, or free to compute here (its owner released it unstored, or is gone: see
``_liveness``), or in a :class:`ClaimWaitTimeoutError` naming the owner and the claim.
Coordination is advisory: losing it costs duplicate work, never a wrong value.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
import typing as tp

from . import _liveness
from ._claim_settings import Settings, settings
from .errors import ClaimWaitTimeoutError

if tp.TYPE_CHECKING:
    from exca.store.claims import Claim as Record
    from exca.store.claims import ClaimTable, Lease
    from exca.store.owner import Owner

    from ._cells import Cell
    from .backends.base import Outcome
    from .identity import ModeType

__all__ = ["Claim", "Coordinator", "Settings", "coordinator_for", "settings", "working_under"]


@dataclasses.dataclass(frozen=True, slots=True)
class ClaimToken:
    """What a unit of work carries to its worker: the claim's token, its driver, and the
    token of the record the driver may hand the claim over to (a Slurm job's)."""

    token: str
    driver: Owner
    job_token: str = dataclasses.field(default_factory=lambda: os.urandom(8).hex())

    @classmethod
    def of(cls, lease: Lease) -> ClaimToken:
        from exca.store.owner import current_owner

        return cls(lease.token, current_owner())

    def in_driver(self) -> bool:
        """Whether this process is the driver's (the unit runs in a thread of it)."""
        from exca.store.owner import current_owner

        me, driver = current_owner(), self.driver
        return (me.host, me.pid, me.started) == (driver.host, driver.pid, driver.started)


@dataclasses.dataclass(frozen=True)
class Claim:
    """Keys of one dispatch: those this driver computes, and those another worker owns;
    ``tokens``: one per unit (after :meth:`Coordinator.split`), carried to its worker."""

    mine: list[str]
    others: list[str] = dataclasses.field(default_factory=list)
    tokens: list[ClaimToken] = dataclasses.field(default_factory=list)
    leases: list[Lease] = dataclasses.field(default_factory=list, repr=False, compare=False)


class Coordinator:
    """Compute once across threads, processes and hosts, through the cell's claims."""

    def claim(
        self,
        cell: Cell,
        keys: list[str],
        mode: ModeType = "cached",
        damaged: tp.Collection[str] = (),
    ) -> Claim:
        """Claim the keys of ``keys`` no live worker owns and the store does not hold yet
        for ``mode`` (a ``damaged`` key's entry does not count); ``force`` first cancels
        the live jobs exca submitted (Slurm, submitit local) owning any. The claim beats
        until released."""
        table = cell.claims
        if mode == "force":
            _liveness.cancel_owners(table, keys)
        from exca.store.heartbeat import heartbeat

        beats = heartbeat(settings().heartbeat_s)
        with _CLAIMING:
            lease = table.claim(keys, mine=held_tokens())
            beats.keep(lease)
        if not lease.keys:
            return Claim(mine=[], others=list(keys))
        mine = [key for key in keys if key in lease.keys] if lease.held else list(keys)
        # another driver may have stored some (and released them) since the caller found
        # them missing: they are read back as the others' keys are, not computed again
        done = _stored(cell, [key for key in mine if key not in damaged], mode)
        if done:
            mine = [key for key in mine if key not in done]
            if not mine:
                _release(lease)
                return Claim(mine=[], others=list(keys))
        others: list[str] = []
        if done or lease.held:  # (the keys held by others or stored meanwhile)
            computed = set(mine)
            others = [key for key in keys if key not in computed]
        return Claim(mine, others, [ClaimToken.of(lease)], [lease])

    def split(self, cell: Cell, claim: Claim, parts: list[list[str]]) -> Claim:
        """``claim`` as one record per part (a unit of work: its worker may replace that
        record with one naming itself, leaving the other units' records alone)."""
        if len(parts) <= 1 or len(claim.leases) != 1:
            if len(claim.tokens) == len(parts):  # (one unit, under the claim's one token)
                return claim
            return dataclasses.replace(claim, tokens=claim.tokens[:1] * len(parts))
        from exca.store.heartbeat import heartbeat

        beats = heartbeat(settings().heartbeat_s)
        whole = claim.leases[0]
        with _CLAIMING:
            leases = cell.claims.split(whole, parts)
            beats.drop(whole)
            for lease in leases:
                beats.keep(lease)
        tokens = [ClaimToken.of(lease) for lease in leases]
        return dataclasses.replace(claim, tokens=tokens, leases=leases)

    def track(self, cell: Cell, claim: Claim, outcomes: tp.Sequence[Outcome | None]) -> Claim:
        """Follow the sent units' outcomes (one per lease of ``claim``): a unit run by a
        job that outlives this driver (a Slurm job) has its lease handed over to that
        job, so that the keys stay claimed after this process exits; every lease whose
        outcome can tell it has ended is released by the heartbeat once it has (not once
        the items are read)."""
        from exca.store.heartbeat import heartbeat

        from .backends.base import Done, TrackedOutcome

        if len(claim.leases) != len(outcomes) or all(type(o) is Done for o in outcomes):
            return claim  # (not split per unit, or run inline: released already)
        beats, leases = heartbeat(settings().heartbeat_s), list(claim.leases)
        for index, (lease, outcome) in enumerate(zip(claim.leases, outcomes, strict=True)):
            if not isinstance(outcome, TrackedOutcome):
                continue
            with _CLAIMING:
                if beats.lease(lease.token) is None:
                    continue  # released already (the unit ended), or lost to its worker
                owner = outcome.job_owner()
                if owner is not None:
                    handed = cell.claims.hand_over(lease, owner, claim.tokens[index].job_token)
                    beats.drop(lease)
                    if handed is None:
                        continue  # its job took the claim over already
                    leases[index] = lease = handed
                beats.keep(lease, ended=outcome.done)
        return dataclasses.replace(claim, leases=leases)

    def wait(self, cell: Cell, claim: Claim, mode: ModeType = "cached") -> list[str]:
        """Wait until each key of ``claim.others`` is stored or free; returns the free
        ones, for the caller to compute (their owner released them unstored, or is gone:
        its claim is then removed). Under ``force`` a stored key counts only once its
        owner released it, and is recomputed (superseding that result)."""
        config = settings()
        watch = _liveness.Watch(config)
        deadline = time.monotonic() + config.max_wait_s
        table, waiting, pause = cell.claims, list(claim.others), 0.005
        while waiting:
            done = _stored(cell, waiting, mode)
            waiting = [key for key in waiting if key not in done] if done else waiting
            if not waiting:
                break
            holders = _holders(table.claims(), waiting)
            dead, silent = watch.gone(set(holders.values()))
            dead.extend(_abandoned(set(holders.values())))
            if dead or silent or len(holders) < len(waiting):
                table.evict(silent, dead=dead)
                gone = {claim.token for claim in (*dead, *silent)}
                return [k for k in waiting if k not in holders or holders[k].token in gone]
            if time.monotonic() > deadline:
                raise ClaimWaitTimeoutError(holders[waiting[0]], len(waiting), config)
            time.sleep(pause)
            pause = min(pause * 2, config.poll_s)
        return []

    def release(self, cell: Cell, claim: Claim, units: tp.Iterable[int] | None = None) -> None:
        """Give up ``claim``, or only the leases of the units of index ``units``, once
        those units have ended (their entries are published)."""
        leases = claim.leases
        if units is not None and leases:  # (one lease per unit; one unit if not split)
            leases = [leases[index] for index in units if index < len(leases)]
        for lease in leases:
            _release(lease)

    def abandon(self, cell: Cell, claim: Claim) -> None:
        """The driver lets go of ``claim`` with units perhaps still running (it dropped
        their items, or exits): its own leases are released; those handed over to jobs
        stay, judged by Slurm from now on (the jobs still compute their keys)."""
        from exca.store.heartbeat import heartbeat

        beats = heartbeat(settings().heartbeat_s)
        for lease in claim.leases:
            if lease.owner is None:
                _release(lease)
            else:
                beats.drop(lease)


_COORDINATOR = Coordinator()


def coordinator_for(cell: Cell) -> Coordinator:
    return _COORDINATOR


def _stored(cell: Cell, keys: list[str], mode: ModeType) -> tp.Collection[str]:
    """The keys another worker stored meanwhile that ``mode`` takes as done: any entry
    when cached, a success when retrying, none when forced."""
    if mode == "force":
        return ()
    found = cell.stored(keys)
    if mode == "retry":
        return [key for key in keys if key in found and found[key].status == "success"]
    return found


def _release(lease: Lease) -> None:
    if lease.released:  # (a unit's lease is released when it ends, then with its dispatch)
        return
    from exca.store.heartbeat import heartbeat

    heartbeat().drop(lease)
    lease.release()


# Held from creating a lease of this process to keeping it in the heartbeat, and by a
# waiter telling this process's live claims from abandoned ones: a lease not yet kept
# would otherwise look abandoned, and be evicted (costing a duplicate computation).
_CLAIMING = threading.Lock()


def _abandoned(claims: tp.Collection[Record]) -> list[Record]:
    """This process's claims that no unit of it holds any more: the heartbeat keeps no
    lease of theirs (a unit releases its lease when it ends; one left beating nowhere
    must not be waited for, up to ``max_wait_s``, by its own process)."""
    from exca.store.heartbeat import heartbeat
    from exca.store.owner import current_owner

    me, beats = current_owner(), heartbeat()
    with _CLAIMING:
        return [c for c in claims if c.owner == me and beats.lease(c.token) is None]


def _holders(claims: dict[str, Record], keys: list[str]) -> dict[str, Record]:
    """The claim holding each of ``keys`` (those held by none are absent)."""
    wanted = set(keys)
    mine = held_tokens()
    holders: dict[str, Record] = {}
    for claim in claims.values():
        if claim.token not in mine:
            holders.update(dict.fromkeys(claim.keys & wanted, claim))
    return holders


_HELD = threading.local()  # tokens of the claims this thread works under


def held_tokens() -> set[str]:
    """Tokens of the claims the current thread works under (a nested step of the same
    cell must not wait for its own claim)."""
    tokens: set[str] | None = getattr(_HELD, "tokens", None)
    if tokens is None:
        tokens = _HELD.tokens = set()
    return tokens


@contextlib.contextmanager
def working_under(
    table: ClaimTable, claim: ClaimToken | None, keys: list[str]
) -> tp.Iterator[None]:
    """Run a unit of work under its driver's claim: in the driver's process (a thread
    pool, inline) the claim is the driver's, beats there and is released once the block
    has ended (the keys it left unstored are free then, not once the driver reads the
    items); elsewhere (a pool process, a Slurm job) the worker replaces it with a claim
    naming itself (and, in a job exca submitted, saying so: ``force`` may cancel
    it), beats it and releases it once the block (which publishes the entries) has
    ended."""
    if claim is None:
        yield
        return
    from exca.store.heartbeat import heartbeat

    tokens = held_tokens()
    if claim.in_driver():
        tokens.add(claim.token)
        try:
            yield
        finally:  # the unit ended: the keys it left unstored are free for anyone now
            tokens.discard(claim.token)
            lease = heartbeat().lease(claim.token)
            if lease is not None:
                _release(lease)
        return
    from exca.store.owner import current_owner, local_job_here, mark_worker_job

    job = current_owner().slurm_job
    if (job is not None and job != claim.driver.slurm_job) or local_job_here() is not None:
        # a job exca submitted: not the driver's own Slurm job (a pool inside it), nor a
        # local job running a driver (its pool processes are the driver's children)
        mark_worker_job()
    beats = heartbeat(settings().heartbeat_s)
    with _CLAIMING:
        lease = table.claim(keys, mine=tokens, replacing=(claim.token, claim.job_token))
        beats.keep(lease)
    tokens.update((claim.token, lease.token))
    try:
        yield
    finally:  # released after the block: releasing first would let a waiter recompute
        beats.drop(lease)
        lease.release()
        tokens.difference_update((claim.token, lease.token))
