"""A unit's claim ends with the unit (``steps/_coordinate.py``, ``steps/_dispatch.py``).

Contract pinned, with real threads and processes: once a unit of work has ended (its
entries published) its claim is released, the keys it did not store (left by fail fast)
included, even while its driver holds the items unread, and also when its worker
process died before starting it (released within a heartbeat of its end); so neither
the driver itself nor another process waits on work nobody is doing; a dispatch that
fails before its units are sent releases its claim; a ``scancel`` that hangs is given
up with a warning.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from exca.steps import _slurm
from exca.steps._batch import Failure
from exca.steps.backends import Cached

CHILD = Path(__file__).parent / "_children" / "counting_step.py"

sys.path.insert(0, str(CHILD.parent))  # (the driver script, imported as its module)
import counting_step as counting  # noqa: E402


@pytest.fixture
def failing_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Computing 0 raises (fail fast then leaves the unit's other items); a wait on a
    live claim gives up after 5 s instead of 24 h."""
    counts = tmp_path / "counts.txt"
    monkeypatch.setenv("COUNTED_FILE", str(counts))
    monkeypatch.setenv("COUNTED_FAIL", "0")
    monkeypatch.setenv("EXCA_CLAIM_MAX_WAIT_S", "5")
    return counts


def _step(folder: Path) -> counting.Counted:
    return counting.Counted(
        delay=0.2, infra={"backend": "ThreadPool", "folder": folder, "max_jobs": 1}
    )


def _read_all(items) -> list[object]:
    """The items' values, a failure as its error's type name."""
    outcomes = items.outcomes()
    return [type(out.error).__name__ if isinstance(out, Failure) else out for out in outcomes]


def test_a_driver_does_not_wait_on_its_own_claim_of_items_fail_fast_left(
    tmp_path: Path, failing_zero: Path
) -> None:
    step = _step(tmp_path / "cache")
    items = step.run_many([0, 1, 2, 3])  # not read: the unit runs, fails at 0, ends
    assert step.run(2) == 4  # (waited 5 s on its own claim, then raised, before)
    assert counting.counts(str(failing_zero)).count(2) == 1
    assert _read_all(items) == ["ValueError", 2, 4, 6]


def test_another_process_computes_items_a_failed_unit_left_while_its_driver_holds_them(
    tmp_path: Path, failing_zero: Path
) -> None:
    folder = tmp_path / "cache"
    items = _step(folder).run_many([0, 1, 2, 3])  # held unread while the other runs
    env = {**os.environ, "COUNTED_FAIL": ""}
    args = [str(folder), str(failing_zero), "0", "cached", "ThreadPool", "2"]
    other = subprocess.run(
        [sys.executable, str(CHILD), *args], capture_output=True, text=True, env=env,
        timeout=120,
    )  # fmt: skip
    assert other.returncode == 0, other.stderr  # (ClaimWaitTimeoutError after 5 s, before)
    assert json.loads(other.stdout.strip().splitlines()[-1].split(" ", 1)[1]) == [4]
    assert _read_all(items) == ["ValueError", 2, 4, 6]


def test_an_item_stored_by_another_driver_once_missed_here_is_read_not_recomputed(
    tmp_path: Path, failing_zero: Path
) -> None:
    folder = tmp_path / "cache"
    items = _step(folder).run_many([0, 1, 2, 3])  # 2 is missed here, then left by 0
    other = counting.Counted(infra={"backend": "Cached", "folder": folder})
    assert other.run(2) == 4  # (it waits for the unit to end: 2 is free then)
    assert _read_all(items) == ["ValueError", 2, 4, 6]  # claims 2, finds it stored
    assert counting.counts(str(failing_zero)).count(2) == 1


def test_a_process_worker_dying_before_it_takes_its_claim_over_frees_its_items_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts = tmp_path / "counts.txt"
    monkeypatch.setenv("COUNTED_FILE", str(counts))
    monkeypatch.setenv("EXCA_CLAIM_HEARTBEAT_S", "0.2")
    monkeypatch.setenv("EXCA_CLAIM_MAX_WAIT_S", "20")
    monkeypatch.setenv("COUNTED_DIE_IN_CHILD_OF", str(os.getpid()))  # its workers die at once
    folder = tmp_path / "cache"
    infra = {"backend": "ProcessPool", "folder": folder, "max_jobs": 2}
    items = counting.Counted(infra=infra).run_many([1, 2])  # held unread: this driver lives
    env = {key: value for key, value in os.environ.items() if key != "COUNTED_DIE_IN_CHILD_OF"}
    args = [str(folder), str(counts), "0", "cached", "Cached", "1", "2"]
    other = subprocess.run(
        [sys.executable, str(CHILD), *args], capture_output=True, text=True, env=env,
        timeout=120,
    )  # fmt: skip
    assert other.returncode == 0, other.stderr  # (ClaimWaitTimeoutError after 20 s, before)
    assert json.loads(other.stdout.strip().splitlines()[-1].split(" ", 1)[1]) == [2, 4]
    assert sorted(counting.counts(str(counts))) == [1, 2]  # there (the workers died first)
    assert list(items) == [2, 4]  # the driver reads what the other stored


class _NoLimits(Cached):
    """Fails while planning its units, after the driver claimed their keys."""

    def _unit_limits(self, items: int) -> tuple[int, int]:
        raise RuntimeError("no limits")


def test_a_dispatch_failing_before_its_units_are_sent_releases_its_claim(
    tmp_path: Path, failing_zero: Path
) -> None:
    folder = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="no limits"):
        counting.Counted(infra=_NoLimits(folder=folder)).run(1)
    assert counting.Counted(infra={"backend": "Cached", "folder": folder}).run(1) == 2


def test_a_scancel_that_hangs_is_given_up_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    scancel = tmp_path / "scancel"
    scancel.write_text("#!/bin/sh\nsleep 30\n")
    scancel.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(_slurm, "_TIMEOUT_S", 0.2)
    _slurm.cancel_jobs(["123"])  # (raised TimeoutExpired before)
    assert "scancel 123 failed" in caplog.text
