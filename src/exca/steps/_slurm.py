"""What Slurm says of jobs (accounting, then the controller), and cancelling them.

A job is named as a claim's owner names it: ``<job>`` or ``<array>_<task>``. Accounting
(``sacct``) lists an array's tasks that have not started as one range
(``123_[2-5%2]``), and learns of a job some seconds after ``sbatch`` returned: a job
accounting does not know is asked of the controller (``squeue``), which knows a job from
its submission until ``MinJobAge`` after its end. Whether an unknown job counts as
ended is ``_liveness``'s rule, not decided here.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import typing as tp

logger = logging.getLogger(__name__)

__all__ = ["ENDED", "job_states", "cancel_jobs"]

# Slurm job states after which nothing of the job computes any more (sacct(1) "JOB STATE
# CODES"); any other known state (PENDING, RUNNING, SUSPENDED, ...) counts as alive.
ENDED = frozenset(
    "BOOT_FAIL CANCELLED COMPLETED DEADLINE FAILED NODE_FAIL OUT_OF_MEMORY PREEMPTED "
    "REVOKED TIMEOUT".split()
)
_TIMEOUT_S = 30.0
_RANGE = re.compile(r"^(\d+)_\[([0-9,\-]+)(?:%\d+)?\]$")  # 123_[2-5,7%2]: tasks not started


def job_states(jobs: tp.Collection[str]) -> dict[str, str | None] | None:
    """Each job's state (None: unknown to accounting and to the controller); None
    altogether when ``sacct`` is missing here or fails (then only heartbeats tell)."""
    if not jobs:
        return {}
    arrays = sorted({job.partition("_")[0] for job in jobs})
    lines = _ask("sacct", ["-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(arrays)])
    if lines is None:
        return None
    states: dict[str, str | None] = dict.fromkeys(jobs)
    _read_states(lines, states)
    unknown = [job for job, state in states.items() if state is None]
    if unknown:  # (just submitted: accounting has not heard of it yet)
        known = _ask("squeue", ["-h", "-r", "-t", "all", "-o", "%i|%T", "-j", ",".join(unknown)])
        _read_states(known or [], states)
    return states


def _read_states(lines: list[str], states: dict[str, str | None]) -> None:
    """Fill the None states of ``states`` from ``JobID|State`` lines."""
    for line in lines:
        job, _, state = line.partition("|")
        if not state:
            continue
        state = state.split()[0]  # "CANCELLED by 1000" -> "CANCELLED"
        if job in states and states[job] is None:
            states[job] = state
        elif (tasks := _RANGE.match(job)) is not None:
            array = tasks.group(1)
            for task in _tasks(tasks.group(2)):
                if states.get(f"{array}_{task}", "") is None:
                    states[f"{array}_{task}"] = state


def _tasks(ranges: str) -> tp.Iterator[int]:
    for part in ranges.split(","):
        first, _, last = part.partition("-")
        yield from range(int(first), int(last or first) + 1)


def _ask(command: str, args: list[str]) -> list[str] | None:
    """The output lines of a Slurm command; None where it is missing or fails (a
    ``squeue`` of jobs it does not know fails: none known, no lines)."""
    path = shutil.which(command)
    if path is None:
        return None
    try:
        done = subprocess.run(
            [path, *args], capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        logger.warning("cannot ask Slurm (%s): %s", command, error)
        return None
    if done.returncode != 0:
        if "Invalid job id" in done.stderr:
            return []
        logger.warning("%s failed (%s): %s", command, done.returncode, done.stderr.strip()[-300:])
        return None
    return done.stdout.splitlines()


def cancel_jobs(jobs: tp.Collection[str]) -> None:
    """``scancel`` the jobs (array tasks as ``<job>_<task>``: only that task)."""
    scancel = shutil.which("scancel")
    if not jobs or scancel is None:
        return
    try:  # advisory: a job not cancelled computes on (duplicate work), never an error
        done = subprocess.run(
            [scancel, *sorted(jobs)], capture_output=True, text=True, timeout=_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        logger.warning("scancel %s failed: %s", " ".join(jobs), error)
        return
    if done.returncode != 0:
        logger.warning("scancel %s failed: %s", " ".join(jobs), done.stderr.strip()[-300:])
