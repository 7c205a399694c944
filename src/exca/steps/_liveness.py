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
import shutil
import subprocess
import time
import typing as tp

if tp.TYPE_CHECKING:
    from exca.store.claims import Claim, ClaimTable
    from exca.store.owner import Owner

    from ._coordinate import Settings

logger = logging.getLogger(__name__)

# Slurm job states after which nothing of the job computes any more (sacct(1) "JOB STATE
# CODES"); any other known state (PENDING, RUNNING, SUSPENDED, ...) counts as alive.
ENDED = frozenset(
    "BOOT_FAIL CANCELLED COMPLETED DEADLINE FAILED NODE_FAIL OUT_OF_MEMORY PREEMPTED "
    "REVOKED TIMEOUT".split()
)
_SACCT_TIMEOUT_S = 30.0
_SACCT_EVERY_S = 5.0  # sacct is asked at most this often by one waiter


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
    if owner.started is not None:
        from exca.store.owner import process_start

        started = process_start(owner.pid)
        if started is not None and started != owner.started:
            return False  # the pid was reused by a newer process
    return True


def slurm_states(jobs: tp.Collection[str]) -> dict[str, str | None] | None:
    """Each job's state per ``sacct`` (None: unknown to accounting); None altogether
    when ``sacct`` is missing here or fails (then only heartbeats tell)."""
    if not jobs:
        return {}
    sacct = shutil.which("sacct")
    if sacct is None:
        return None
    command = [sacct, "-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(sorted(jobs))]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=_SACCT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        logger.warning("cannot ask Slurm about jobs %s: %s", ",".join(jobs), error)
        return None
    if done.returncode != 0:
        logger.warning("sacct failed (%s): %s", done.returncode, done.stderr.strip()[-300:])
        return None
    states: dict[str, str | None] = dict.fromkeys(jobs)
    for line in done.stdout.splitlines():
        job, _, state = line.partition("|")
        if job in states and state:
            states[job] = state.split()[0]  # "CANCELLED by 1000" -> "CANCELLED"
    return states


def cancel_slurm_jobs(jobs: tp.Collection[str]) -> None:
    """``scancel`` the jobs (array tasks as ``<job>_<task>``: only that task)."""
    scancel = shutil.which("scancel")
    if not jobs or scancel is None:
        return
    try:  # advisory: a job not cancelled computes on (duplicate work), never an error
        done = subprocess.run(
            [scancel, *sorted(jobs)], capture_output=True, text=True, timeout=_SACCT_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        logger.warning("scancel %s failed: %s", " ".join(jobs), error)
        return
    if done.returncode != 0:
        logger.warning("scancel %s failed: %s", " ".join(jobs), done.stderr.strip()[-300:])


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
            self._states, self._asked = slurm_states(jobs), now
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
            state = self._states.get(job)
            if state in ENDED:
                return f"Slurm job {job} is {state}"
            stale_s = self.config.stale_s
            if state is None and now - self._unknown.setdefault(job, now) > stale_s:
                return f"Slurm job {job} is unknown to sacct since {stale_s:.0f} s"
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
    jobs = {claim.owner.slurm_job for claim in claims if claim.owner.slurm_job}
    states = slurm_states(jobs)
    for claim in claims:
        job = claim.owner.slurm_job
        if process_alive(claim.owner) is False:
            continue
        if job and states is not None and (states.get(job) or "ENDED") in ENDED:
            continue  # (unknown to accounting counts as ended here: no waiting to judge it)
        return True
    return False


def cancel_owners(table: ClaimTable, keys: tp.Collection[str]) -> list[str]:
    """``scancel`` the live Slurm jobs (not this process's own) holding any of ``keys``,
    as ``force`` and ``clear_cache()`` do; returns the jobs cancelled. Local processes
    are not killed: their work is superseded (``force`` recomputes once they release)."""
    from exca.store.owner import current_owner

    own = current_owner().slurm_job
    wanted = set(keys)
    jobs = {
        claim.owner.slurm_job
        for claim in table.claims().values()
        if claim.owner.slurm_job and claim.owner.slurm_job != own and claim.keys & wanted
    }
    states = slurm_states(jobs) or {}
    live = sorted(job for job in jobs if (states.get(job) or "ENDED") not in ENDED)
    cancel_slurm_jobs(live)
    return live
