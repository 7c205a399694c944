"""Cancelling the submitit local jobs exca submitted, by their controller process.

A local job is a controller process (``python -m submitit.local._local FOLDER``, whose
pid is the job's id) that runs the job's task as its child. Cancelling sends it SIGINT,
as submitit's own ``LocalJob.cancel`` does: it then interrupts its task and kills it a
second later if it still runs. A claim names the controller (handed over at
submission) or the task (once it runs its unit); before any signal the controller is
checked to be a live submitit controller that is the one recorded (same start) or the
recorded task's parent, so that a reused pid, a driver, or a process exca did not start
is never signalled.
"""

from __future__ import annotations

import logging
import os
import signal
import time
import typing as tp

if tp.TYPE_CHECKING:
    from exca.store.owner import Owner

__all__ = ["cancel_local_jobs"]

logger = logging.getLogger(__name__)

_END_WAIT_S = 10.0  # how long a cancel waits for a controller to end (it takes ~1 s)
_CONTROLLER = b"submitit.local._local"


def cancel_local_jobs(owners: tp.Iterable[Owner]) -> list[int]:
    """Stop the local jobs of ``owners`` (claims' owners marked as exca's worker jobs),
    then wait, bounded, until their controllers have ended; returns their pids."""
    controllers = sorted({pid for owner in owners if (pid := _controller_of(owner))})
    for pid in controllers:
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            continue
        logger.warning("cancelled submitit local job %d (its items are forced or cleared)", pid)
    deadline = time.monotonic() + _END_WAIT_S
    running = [pid for pid in controllers if _running(pid)]
    while running and time.monotonic() < deadline:
        time.sleep(0.02)
        running = [pid for pid in running if _running(pid)]
    if running:
        logger.warning(
            "submitit local job(s) %s still run %.0f s after SIGINT", running, _END_WAIT_S
        )
    return controllers


def _controller_of(owner: Owner) -> int | None:
    """The pid of ``owner``'s local job controller if it may be signalled, else None."""
    from exca.store.owner import local_job_here, process_info

    pid = owner.local_job
    if pid is None or not owner.worker_job or not owner.here:
        return None
    if pid == os.getpid() or pid == local_job_here():  # (never this process's own job)
        return None
    controller, recorded = process_info(pid), process_info(owner.pid)
    if controller is None or controller.state == "Z" or not _is_controller(pid):
        return None
    if recorded is None or recorded.started != owner.started:
        return None  # the recorded process is gone, or its pid was reused
    if owner.pid != pid and recorded.parent != pid:
        return None  # the recorded task is not that controller's
    return pid


def _is_controller(pid: int) -> bool:
    """Whether process ``pid`` runs ``python -m submitit.local._local``."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            args = handle.read().split(b"\0")
    except OSError:
        return False
    return any(a == b"-m" and b == _CONTROLLER for a, b in zip(args, args[1:], strict=False))


def _running(pid: int) -> bool:
    from exca.store.owner import process_info

    info = process_info(pid)
    return info is not None and info.state != "Z"
