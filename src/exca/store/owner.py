"""Who owns a claim: the host, process and Slurm job of the process running here."""

from __future__ import annotations

import dataclasses
import os

__all__ = [
    "Owner",
    "current_owner",
    "job_owner",
    "local_job_owner",
    "mark_worker_job",
    "process_start",
]

_HOST = os.uname().nodename  # (= socket.gethostname(), without importing socket)


@dataclasses.dataclass(frozen=True, slots=True)
class Owner:
    """A claim's owner: ``pid`` on ``host``, started at ``started`` (clock ticks after
    boot, Linux; tells a reused pid apart), inside Slurm job ``slurm_job`` if any
    (``<job>_<task>`` for an array task). ``worker_job``: that job was submitted by exca
    to run units of work (``force`` may cancel it), not a user's job running a driver.
    A job not started yet has no host nor pid (``host=""``, ``pid=0``)."""

    host: str
    pid: int
    started: int | None
    slurm_job: str | None
    worker_job: bool = False

    def __str__(self) -> str:
        if not self.host and self.slurm_job:
            return f"Slurm job {self.slurm_job} (sent by exca, not started)"
        job = f" in Slurm job {self.slurm_job}" if self.slurm_job else ""
        return f"pid {self.pid} on {self.host}{job}"

    @property
    def here(self) -> bool:
        """Whether the owner runs on this host (its pid can be checked from here)."""
        return self.host == _HOST


_CURRENT: Owner | None = None
_WORKER_JOB: str | None = None  # the Slurm job exca submitted that this process runs in


def current_owner() -> Owner:
    """The owner of claims made by this process (made again in a forked child)."""
    global _CURRENT
    if _CURRENT is None or _CURRENT.pid != os.getpid():
        pid, job = os.getpid(), _slurm_job()
        worker = job is not None and job == _WORKER_JOB
        _CURRENT = Owner(_HOST, pid, process_start(pid), job, worker)
    return _CURRENT


def mark_worker_job() -> None:
    """Say that this process runs in a Slurm job exca submitted to run units of work
    (its claims say so from now on: ``force`` may cancel its job). Never called in a
    driver: a user's job running a driver must not be cancelled by another's ``force``."""
    global _WORKER_JOB, _CURRENT
    job = _slurm_job()
    if job is not None and job != _WORKER_JOB:
        _WORKER_JOB, _CURRENT = job, None


def job_owner(job: str) -> Owner:
    """The owner of work handed to Slurm job ``job`` exca submitted, before it starts
    (judged by Slurm's word alone: no host, no pid)."""
    return Owner("", 0, None, job, worker_job=True)


def local_job_owner(pid: int) -> Owner:
    """The owner of work handed to a job that process ``pid`` of this host runs (a
    local job: submitit's controller process, which outlives the driver that started
    it), judged by that process alone: its claim is taken over once it is gone."""
    return Owner(_HOST, pid, process_start(pid), None)


def _slurm_job() -> str | None:
    env = os.environ
    array, task = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return env.get("SLURM_JOB_ID") or None


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks after boot), None where unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat.rpartition(b")")[2].split()  # the command name may hold spaces
    try:
        return int(fields[19])  # field 22 of proc(5); fields[0] is field 3
    except (IndexError, ValueError):
        return None
