"""Who owns a claim: the host, process and Slurm job of the process running here."""

from __future__ import annotations

import dataclasses
import os

__all__ = ["Owner", "current_owner", "process_start"]

_HOST = os.uname().nodename  # (= socket.gethostname(), without importing socket)


@dataclasses.dataclass(frozen=True, slots=True)
class Owner:
    """A claim's owner: ``pid`` on ``host``, started at ``started`` (clock ticks after
    boot, Linux; tells a reused pid apart), inside Slurm job ``slurm_job`` if any
    (``<job>_<task>`` for an array task)."""

    host: str
    pid: int
    started: int | None
    slurm_job: str | None

    def __str__(self) -> str:
        job = f" in Slurm job {self.slurm_job}" if self.slurm_job else ""
        return f"pid {self.pid} on {self.host}{job}"

    @property
    def here(self) -> bool:
        """Whether the owner runs on this host (its pid can be checked from here)."""
        return self.host == _HOST


_CURRENT: Owner | None = None


def current_owner() -> Owner:
    """The owner of claims made by this process (made again in a forked child)."""
    global _CURRENT
    if _CURRENT is None or _CURRENT.pid != os.getpid():
        pid = os.getpid()
        _CURRENT = Owner(_HOST, pid, process_start(pid), _slurm_job())
    return _CURRENT


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
