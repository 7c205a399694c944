"""Whether a claim's owner still runs: its process (same host), its Slurm job, its heartbeat.

A claim's owner is gone when it is known dead: on this host its process is gone; for a
Slurm job, Slurm says the job ended or accounting has not known it for ``stale_s``
(trusted over the heartbeat: a worker can outlive its cancelled job and keep beating);
otherwise when its heartbeat has not changed for ``stale_s`` on the waiter's own clock
(clocks of different hosts are never compared).
"""

from __future__ import annotations

import logging
import os
import time
import typing as tp

from ._claim_settings import settings
from ._slurm import ENDED, cancel_jobs, job_states

if tp.TYPE_CHECKING:
    from exca.store.claims import Claim, ClaimTable
    from exca.store.owner import Owner

    from ._claim_settings import Settings

logger = logging.getLogger(__name__)

_SACCT_EVERY_S = 5.0  # sacct is asked at most this often by one waiter
_UNKNOWN_SINCE: dict[str, float] = {}  # Slurm job -> when this process first found it unknown


def process_alive(owner: Owner) -> bool | None:
    """Whether the owner's process runs; None when it runs on another host."""
    if not owner.here:
        return None
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    from exca.store.owner import process_info

    info = process_info(owner.pid)
    if info is None:
        return True  # (no /proc to tell more: the pid exists)
    if info.state == "Z":  # ended, not reaped yet by its parent (a driver that is busy,
        return False  # or a container's init that never reaps): it computes nothing
    # a start that differs: the pid was reused by a newer process
    return owner.started is None or info.started == owner.started


def job_ended(job: str, state: str | None, grace_s: float, now: float | None = None) -> str | None:
    """Why Slurm job ``job``, in ``state`` (None: unknown to accounting and to the
    controller), counts as ended, or None while it may still run.

    The one rule, for waiters, ``lookup().status`` and ``force`` alike: an ended state
    (completed, failed, cancelled, timed out, ...) is ended; any other known state is
    alive; a job nobody knows counts as alive for ``grace_s`` after this process first
    found it unknown, then as ended (a job from another cluster sharing the folder, or
    one forgotten by both; defect 9 of exca 0.6.0 waited for it forever).
    """
    if state is not None:
        _UNKNOWN_SINCE.pop(job, None)
        return f"Slurm job {job} is {state}" if state in ENDED else None
    now = time.monotonic() if now is None else now
    since = _UNKNOWN_SINCE.setdefault(job, now)
    if now - since >= grace_s:
        return f"Slurm job {job} is unknown to Slurm since {now - since:.0f} s"
    return None


class Watch:
    """What one waiter saw of the claims it waits for, timed on its own clock."""

    def __init__(self, config: Settings) -> None:
        self.config = config
        self._beats: dict[str, tuple[int, float]] = {}  # token -> (beat, first seen at)
        self._unknown: dict[str, float] = {}  # Slurm job -> first found unknown at
        self._states: dict[str, str | None] | None = {}
        self._asked = -_SACCT_EVERY_S

    def gone(self, claims: tp.Collection[Claim]) -> tuple[list[Claim], list[Claim]]:
        """The claims whose owner is gone: ``(dead, silent)``, known dead (its process,
        its Slurm job) or silent (no heartbeat for ``stale_s``); each logged."""
        now = time.monotonic()
        jobs = {claim.owner.slurm_job for claim in claims if claim.owner.slurm_job}
        if jobs and (now - self._asked > _SACCT_EVERY_S or not jobs <= set(self._states or ())):
            self._states, self._asked = job_states(jobs), now
        dead, silent = [], []
        for claim in claims:
            reason = self._dead(claim, now)
            if reason is not None:
                dead.append(claim)
            elif (reason := self._silent(claim, now)) is not None:
                silent.append(claim)
            if reason is not None:
                logger.warning("taking over %s: %s", claim, reason)
        return dead, silent

    def _dead(self, claim: Claim, now: float) -> str | None:
        """Why ``claim``'s owner is known dead, or None."""
        owner = claim.owner
        if process_alive(owner) is False:
            return f"{owner} is gone"
        job = owner.slurm_job
        if job and self._states is not None:
            return job_ended(job, self._states.get(job), self.config.stale_s, now)
        return None

    def _silent(self, claim: Claim, now: float) -> str | None:
        """Why ``claim``'s owner counts as gone for want of a heartbeat, or None (always
        None for an owner whose process runs here, or whose job Slurm says runs)."""
        owner = claim.owner
        job = owner.slurm_job
        if process_alive(owner) or (job and self._states and self._states.get(job)):
            return None  # (Slurm says it runs: trusted over the heartbeat)
        seen = self._beats.get(claim.token)
        if seen is None or seen[0] != claim.beat:
            self._beats[claim.token] = (claim.beat, now)
            return None
        if now - seen[1] > self.config.stale_s:
            return f"no heartbeat from {owner} for {now - seen[1]:.0f} s"
        return None


def running(table: ClaimTable, key: str) -> bool:
    """Whether a worker that may still be alive holds ``key`` (one look, no waiting:
    a claim of another host without Slurm to ask counts as running)."""
    claims = [claim for claim in table.claims().values() if key in claim.keys]
    if not claims:
        return False
    grace_s = settings().stale_s
    states = job_states({claim.owner.slurm_job for claim in claims if claim.owner.slurm_job})
    for claim in claims:
        job = claim.owner.slurm_job
        if process_alive(claim.owner) is False:
            continue
        if job and states is not None and job_ended(job, states.get(job), grace_s):
            continue
        return True
    return False


def cancel_owners(table: ClaimTable, keys: tp.Collection[str]) -> list[str]:
    """Cancel the jobs exca submitted as workers (never a driver's own job, nor this
    process's) holding any of ``keys`` and that may still run, as ``force`` and
    ``clear_cache()`` do: ``scancel`` the Slurm ones, stop the submitit local ones (see
    ``_local_jobs``); returns the Slurm jobs cancelled. Drivers and pool processes are
    not stopped: their work is superseded (``force`` recomputes once they release)."""
    from exca.store.owner import current_owner

    from ._local_jobs import cancel_local_jobs

    own = current_owner().slurm_job
    wanted = set(keys)
    workers = [c.owner for c in table.claims().values() if c.owner.worker_job and c.keys & wanted]
    cancel_local_jobs([owner for owner in workers if owner.local_job is not None])
    jobs = {owner.slurm_job for owner in workers if owner.slurm_job and owner.slurm_job != own}
    states, grace_s = job_states(jobs), settings().stale_s
    live = sorted(  # (where Slurm cannot be asked, cancelling an ended job does no harm)
        job for job in jobs if states is None or not job_ended(job, states.get(job), grace_s)
    )
    cancel_jobs(live)
    return live
