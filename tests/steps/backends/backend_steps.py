"""Steps for the backend tests, importable by name from any worker process or job.

``conftest.py`` puts this folder on ``sys.path`` and on ``PYTHONPATH``, so pickles that
refer to ``backend_steps.Record`` load in pool processes, submitit jobs and Slurm jobs.
Every call leaves a file in ``calls`` (value, pid): counts that hold across processes.
"""

from __future__ import annotations

import functools
import os
import pickle
import shutil
import subprocess
import time
import typing as tp
import uuid
from pathlib import Path

from exca.steps import Step
from exca.steps.backends import Backend
from exca.steps.backends.base import Done

_WAIT_S = 120.0  # bound of every wait below: a broken test fails, it never hangs


@functools.cache
def no_cluster_reason() -> str | None:
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return "no Slurm cluster: 'sbatch'/'sinfo' are not on PATH"
    try:
        done = subprocess.run(
            ["sinfo", "-h", "-o", "%a"], capture_output=True, text=True, timeout=20, check=False
        )
    except subprocess.TimeoutExpired:
        return "no Slurm cluster answers: 'sinfo' timed out"
    if done.returncode != 0 or "up" not in done.stdout:
        return (
            f"no Slurm partition is up: sinfo said {done.stdout.strip() or done.stderr.strip()!r}"
        )
    return None


def skip_without_slurm() -> None:
    """Skip the test, saying why, where no Slurm cluster answers (fail under CI's
    ``EXCA_REQUIRE_SLURM=1``, which started one)."""
    import pytest

    reason = no_cluster_reason()
    if reason is not None:
        if os.environ.get("EXCA_REQUIRE_SLURM") == "1":
            pytest.fail(f"EXCA_REQUIRE_SLURM=1 but {reason}")
        pytest.skip(reason)


def note_call(calls: str, value: tp.Any) -> None:
    name = f"{value}@{os.getpid()}@{uuid.uuid4().hex[:8]}"
    Path(calls, name).write_text("")


def infra(backend: str, folder: Path, **fields: tp.Any) -> dict[str, tp.Any]:
    """A backend config caching under ``folder / "cache"``."""
    return {"backend": backend, "folder": folder / "cache", **fields}


def calls_of(calls: str | Path) -> list[float]:
    """The values computed, sorted (one per call, whatever process made it)."""
    return sorted(float(p.name.split("@")[0]) for p in Path(calls).iterdir())


def pids_of(calls: str | Path) -> set[int]:
    return {int(p.name.split("@")[1]) for p in Path(calls).iterdir()}


def wait_for(condition: tp.Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + _WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {_WAIT_S} s for {what}")
        time.sleep(0.01)


class Record(Step):
    """``x * coeff``, noting each call; negative inputs raise ``ValueError``."""

    calls: str
    coeff: float = 2.0

    @classmethod
    def _exclude_from_cls_uid(cls) -> list[str]:
        return ["calls"]

    def _run(self, x: float) -> float:
        note_call(self.calls, x)
        if x < 0:
            raise ValueError(f"negative {x}")
        return x * self.coeff


class Gate(Record):
    """:class:`Record` that first waits for the file ``gate`` to exist."""

    gate: str

    @classmethod
    def _exclude_from_cls_uid(cls) -> list[str]:
        return ["calls", "gate"]

    def _run(self, x: float) -> float:
        wait_for(Path(self.gate).exists, f"the gate file {self.gate}")
        return super()._run(x)


class Barrier(Record):
    """:class:`Record` whose calls wait until ``parties`` calls are running at once."""

    parties: int

    def _run(self, x: float) -> float:
        note_call(self.calls, x)
        wait_for(lambda: len(os.listdir(self.calls)) >= self.parties, f"{self.parties} calls")
        return x * self.coeff


class Die(Record):
    """:class:`Record` whose process exits abruptly on input 0 (nothing stored for it)."""

    def _run(self, x: float) -> float:
        if x == 0:
            os._exit(3)
        return super()._run(x)


class LingerAtExit(Gate):
    """:class:`Record` whose worker process, once its unit has ended, waits for the file
    ``gate`` before it exits (a slow teardown: multiprocessing runs its exit finalizers)."""

    def _run(self, x: float) -> float:
        from multiprocessing import util

        util.Finalize(None, wait_for, args=(Path(self.gate).exists, "the gate"), exitpriority=1)
        return Record._run(self, x)


class FreezeCount(Step):
    """How many objects the garbage collector leaves alone (frozen) where it runs."""

    def _run(self, x: int) -> int:
        import gc

        return gc.get_freeze_count()


class Exit(Record):
    """:class:`Record` that raises ``SystemExit`` (``how="exit"``) or ``KeyboardInterrupt``
    (``how="interrupt"``) on input 0, as a step calling ``sys.exit()`` or hit by Ctrl-C."""

    how: str = "exit"

    def _run(self, x: float) -> float:
        if x == 0:
            raise SystemExit(3) if self.how == "exit" else KeyboardInterrupt()
        return super()._run(x)


class Sleep(Record):
    """:class:`Record` that sleeps ``seconds`` first."""

    seconds: float

    def _run(self, x: float) -> float:
        time.sleep(self.seconds)
        return super()._run(x)


class AwaitRestWanted(Record):
    """:class:`Record` taking 50 ms an item (so that the rest of a unit of a few items is
    worth leaving to other workers) that, on input 0, first waits until the driver of
    its pool process wants the rest of its unit (its other workers have ended)."""

    def _run(self, x: float) -> float:
        from exca.steps import _work

        if x == 0:
            wait_for(_work.rest_wanted, "the driver asking for the rest of the unit")
        time.sleep(0.05)
        return super()._run(x)


def pid_of_each(calls: str | Path) -> dict[float, int]:
    """The process that computed each value (computed once each)."""
    return {float(p.name.split("@")[0]): int(p.name.split("@")[1]) for p in Path(calls).iterdir()}


class _PicklingInline(Backend):
    """A backend as a user would write one: each unit makes a pickle round trip first."""

    def _execute(self, units: tp.Sequence[tp.Any]) -> list[Done]:
        return [Done(pickle.loads(pickle.dumps(unit))()) for unit in units]
