"""Who owns a claim: the host, process and Slurm job of the process running here."""

from __future__ import annotations

import dataclasses
import os

__all__ = [
    "Owner",
    "current_owner",
    "job_owner",
    "local_job_owner",
    "local_job_here",
    "mark_worker_job",
    "process_info",
    "process_start",
]

_HOST = os.uname().nodename  # (= socket.gethostname(), without importing socket)


@dataclasses.dataclass(frozen=True, slots=True)
class Owner:
    """A claim's owner: ``pid`` on ``host``, started at ``started`` (clock ticks after
    boot, Linux; tells a reused pid apart), inside Slurm job ``slurm_job`` if any
    (``<job>_<task>`` for an array task), or inside the submitit local job of controller
    process ``local_job`` (on ``host``; ``pid`` is then that controller's or its task's).
    ``worker_job``: that job was submitted by exca to run units of work (``force`` may
    cancel it), not a user's job running a driver. A job not started yet has no host
    nor pid (``host=""``, ``pid=0``)."""

    host: str
    pid: int
    started: int | None
    slurm_job: str | None
    worker_job: bool = False
    local_job: int | None = None

    def __str__(self) -> str:
        if not self.host and self.slurm_job:
            return f"Slurm job {self.slurm_job} (sent by exca, not started)"
        job = f" in Slurm job {self.slurm_job}" if self.slurm_job else ""
        if self.local_job is not None:
            job = f" in submitit local job {self.local_job}"
        return f"pid {self.pid} on {self.host}{job}"

    @property
    def here(self) -> bool:
        """Whether the owner runs on this host (its pid can be checked from here)."""
        return self.host == _HOST


_CURRENT: Owner | None = None
_WORKER_JOB: str | None = None  # the Slurm job exca submitted that this process runs in
_WORKER_LOCAL_JOB: int | None = None  # the controller of the local job exca submitted, idem


def current_owner() -> Owner:
    """The owner of claims made by this process (made again in a forked child)."""
    global _CURRENT
    if _CURRENT is None or _CURRENT.pid != os.getpid():
        pid, job = os.getpid(), _slurm_job()
        local = _WORKER_LOCAL_JOB if _WORKER_LOCAL_JOB == local_job_here() else None
        worker = (job is not None and job == _WORKER_JOB) or local is not None
        _CURRENT = Owner(_HOST, pid, process_start(pid), job, worker, local)
    return _CURRENT


def mark_worker_job() -> None:
    """Say that this process runs in a Slurm job or a submitit local job exca submitted
    to run units of work (its claims say so from now on: ``force`` may cancel its job).
    Never called in a driver: a user's job running a driver must not be cancelled by
    another's ``force``."""
    global _WORKER_JOB, _WORKER_LOCAL_JOB, _CURRENT
    job, local = _slurm_job(), local_job_here()
    if (job is not None and job != _WORKER_JOB) or (
        local is not None and local != _WORKER_LOCAL_JOB
    ):
        _WORKER_JOB, _WORKER_LOCAL_JOB, _CURRENT = job, local, None


def local_job_here() -> int | None:
    """The pid of the submitit local job controller that started this process as its
    task, or None: also in a process forked from such a task, or from a driver that
    runs as one (their parent is not the controller: never taken for the job itself)."""
    env = os.environ
    job = env.get("SUBMITIT_LOCAL_JOB_ID", "")
    if env.get("SUBMITIT_EXECUTOR") != "local" or not job.isdigit():
        return None
    return int(job) if int(job) == os.getppid() else None


def job_owner(job: str) -> Owner:
    """The owner of work handed to Slurm job ``job`` exca submitted, before it starts
    (judged by Slurm's word alone: no host, no pid)."""
    return Owner("", 0, None, job, worker_job=True)


def local_job_owner(pid: int) -> Owner:
    """The owner of work handed to a submitit local job exca submitted, whose controller
    is process ``pid`` of this host (it outlives the driver that started it), judged by
    that process alone: its claim is taken over once it is gone."""
    return Owner(_HOST, pid, process_start(pid), None, worker_job=True, local_job=pid)


def _slurm_job() -> str | None:
    env = os.environ
    array, task = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return env.get("SLURM_JOB_ID") or None


@dataclasses.dataclass(frozen=True, slots=True)
class ProcessInfo:
    """What ``/proc/<pid>/stat`` says of a process: its state letter (``Z``: a zombie,
    ended but not reaped by its parent yet), its parent's pid, when it started."""

    state: str
    parent: int
    started: int


def process_info(pid: int) -> ProcessInfo | None:
    """Process ``pid``'s state, parent and start (clock ticks after boot), None where
    unknown (no such process, or not Linux)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat.rpartition(b")")[2].split()  # the command name may hold spaces
    try:  # fields 3, 4 and 22 of proc(5); fields[0] is field 3
        return ProcessInfo(fields[0].decode(), int(fields[1]), int(fields[19]))
    except (IndexError, ValueError):
        return None


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks after boot), None where unknown."""
    info = process_info(pid)
    return None if info is None else info.started
