"""Whether a claim's owner still runs: its process (same host) and its Slurm job."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import typing as tp

if tp.TYPE_CHECKING:
    from exca.store.owner import Owner

logger = logging.getLogger(__name__)

# Slurm job states after which nothing of the job computes any more (sacct(1) "JOB STATE
# CODES"); any other known state (PENDING, RUNNING, SUSPENDED, ...) counts as alive.
ENDED = frozenset(
    "BOOT_FAIL CANCELLED COMPLETED DEADLINE FAILED NODE_FAIL OUT_OF_MEMORY PREEMPTED "
    "REVOKED TIMEOUT".split()
)
_SACCT_TIMEOUT_S = 30.0


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
    done = subprocess.run(
        [scancel, *sorted(jobs)], capture_output=True, text=True, timeout=_SACCT_TIMEOUT_S
    )
    if done.returncode != 0:
        logger.warning("scancel %s failed: %s", " ".join(jobs), done.stderr.strip()[-300:])
