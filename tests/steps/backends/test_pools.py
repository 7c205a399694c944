"""Contract of ``ThreadPool`` and ``ProcessPool``: ``min(max_jobs, items)`` workers running at
once on any machine (defect 8), ``run_many`` returning once the work is sent, a failing or
dying worker losing no other worker's results, the last worker running leaving the
rest of its unit to fresh workers once the others ended, a worker's ``SystemExit`` or
``KeyboardInterrupt`` reported as its unit's failure (never ending the driver) while a
Ctrl-C of the driver still interrupts it, steps from a script's ``__main__``, and a
clear error before anything runs for a step that cannot be sent to a process."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import typing as tp
from pathlib import Path

import pytest
from backend_steps import (
    AwaitRestWanted,
    Barrier,
    Die,
    Exit,
    FreezeCount,
    Gate,
    LingerAtExit,
    Record,
    calls_of,
    pid_of_each,
    pids_of,
    wait_for,
)

from exca.steps import Step, _dispatch
from exca.steps.errors import UnpicklableWorkError, WorkerDiedError, WorkerExitError


def pool(name: str, folder: Path, **fields: tp.Any) -> dict[str, tp.Any]:
    return {"backend": name, "folder": folder / "cache", **fields}


def test_defect_8_a_process_pool_runs_max_jobs_workers_at_once_even_on_two_cores(
    calls: str, tmp_path: Path
) -> None:
    # each call waits until 4 calls run at once: an inline or 1-worker pool never gets there
    # (the reference sizes pools cpu_count - 1: on 2 cores, 1 worker, run inline)
    step = Barrier(calls=calls, parties=4, infra=pool("ProcessPool", tmp_path, max_jobs=4))  # type: ignore[arg-type]
    assert list(step.run_many([1, 2, 3, 4])) == [2, 4, 6, 8]
    pids = pids_of(calls)
    assert len(pids) == 4 and os.getpid() not in pids


def test_a_thread_pool_runs_max_jobs_workers_at_once(calls: str, tmp_path: Path) -> None:
    step = Barrier(calls=calls, parties=3, infra=pool("ThreadPool", tmp_path, max_jobs=3))  # type: ignore[arg-type]
    assert list(step.run_many([1, 2, 3, 4, 5, 6])) == [2, 4, 6, 8, 10, 12]


def test_a_pool_has_no_more_workers_than_items(calls: str, tmp_path: Path) -> None:
    step = Record(calls=calls, infra=pool("ProcessPool", tmp_path, max_jobs=50))  # type: ignore[arg-type]
    assert list(step.run_many([1, 2])) == [2, 4] and len(pids_of(calls)) == 2


@pytest.mark.parametrize("name", ["ThreadPool", "ProcessPool"])
def test_run_many_returns_once_the_work_is_sent_and_yields_in_order_as_stored(
    name: str, calls: str, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    step = Gate(calls=calls, gate=str(gate), infra=pool(name, tmp_path, max_jobs=2))  # type: ignore[arg-type]
    items = step.run_many([3, 1, 2])
    assert calls_of(calls) == []  # the workers wait at the gate: nothing computed yet
    gate.write_text("")
    assert list(items) == [6, 2, 4] and calls_of(calls) == [1, 2, 3]


def test_a_worker_that_dies_loses_no_other_workers_results(calls: str, tmp_path: Path) -> None:
    step = Die(calls=calls, infra=pool("ProcessPool", tmp_path, max_jobs=3))  # type: ignore[arg-type]
    items = iter(step.run_many([1, 0, 2]))
    assert next(items) == 2
    with pytest.raises(WorkerDiedError, match="exit code 3"):
        next(items)
    assert next(items) == 4
    again = Die(calls=calls, infra=pool("Cached", tmp_path))  # type: ignore[arg-type]
    assert again.lookup(1).status == "success" and again.lookup(2).status == "success"
    assert again.lookup(0).status is None  # not cached: a next run computes it


def test_a_units_items_are_read_as_soon_as_its_worker_reports_not_once_it_has_exited(
    calls: str, tmp_path: Path
) -> None:
    import multiprocessing

    gate = tmp_path / "gate"
    step = LingerAtExit(
        calls=calls, gate=str(gate), infra=pool("ProcessPool", tmp_path, max_jobs=2)
    )  # type: ignore[arg-type]
    assert list(step.run_many([1, 2])) == [2, 4]
    workers = pids_of(calls)
    assert len(workers) == 2 and all(_running(pid) for pid in workers)  # still exiting
    gate.write_text("")
    wait_for(lambda: not multiprocessing.active_children(), "the workers to be reaped")
    assert not any(_running(pid) for pid in workers)


def _running(pid: int) -> bool:
    """Whether ``pid`` is a process of this machine (a zombie not reaped yet counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_process_workers_inherit_the_drivers_objects_frozen_and_the_driver_gets_them_back(
    tmp_path: Path,
) -> None:
    assert gc.get_freeze_count() == 0
    counts = list(FreezeCount(infra=pool("ProcessPool", tmp_path, max_jobs=2)).run_many([1, 2]))  # type: ignore[arg-type]
    assert len(counts) == 2 and all(count > 0 for count in counts)  # never walked there
    assert gc.get_freeze_count() == 0  # collected here as before


def test_a_freeze_made_by_the_caller_is_left_in_place(tmp_path: Path) -> None:
    gc.freeze()
    try:
        list(FreezeCount(infra=pool("ProcessPool", tmp_path, max_jobs=2)).run_many([1, 2]))  # type: ignore[arg-type]
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("how", ["exit", "interrupt"])
@pytest.mark.parametrize("name", ["ThreadPool", "ProcessPool"])
def test_a_workers_system_exit_or_interrupt_fails_its_unit_not_the_driver(
    name: str, how: str, calls: str, tmp_path: Path
) -> None:
    step = Exit(calls=calls, how=how, infra=pool(name, tmp_path, max_jobs=3))  # type: ignore[arg-type]
    items = iter(step.run_many([1, 0, 2]))
    assert next(items) == 2
    raised = "SystemExit" if how == "exit" else "KeyboardInterrupt"
    with pytest.raises(WorkerExitError, match=raised):
        next(items)
    assert next(items) == 4
    assert step.lookup(0).status is None  # not cached: a next run computes it
    assert step.lookup(2).status == "success"


DRIVER = """
import signal, sys
from backend_steps import Gate
# as in a terminal (a test run as a background job inherits SIGINT ignored)
signal.signal(signal.SIGINT, signal.default_int_handler)
step = Gate(calls=sys.argv[1], gate=sys.argv[2], infra={"backend": "ProcessPool",
            "folder": sys.argv[3], "max_jobs": 2})
items = step.run_many([1, 2])
print("sent", flush=True)
print(list(items))
"""


def test_a_ctrl_c_of_the_driver_still_interrupts_it(calls: str, tmp_path: Path) -> None:
    gate = tmp_path / "gate"  # never opened: the workers wait there
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, calls, str(gate), str(tmp_path / "cache")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert driver.stdout is not None and driver.stdout.readline().strip() == "sent"
    os.killpg(driver.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the driver and its workers
    out, err = driver.communicate(timeout=60)
    assert driver.returncode != 0 and "KeyboardInterrupt" in err, (out, err)
    assert "[" not in out  # no results: the driver stopped waiting


def test_an_error_in_one_worker_stops_only_that_workers_unit(calls: str, tmp_path: Path) -> None:
    step = Record(calls=calls, infra=pool("ProcessPool", tmp_path, max_jobs=2))  # type: ignore[arg-type]
    items = iter(step.run_many([-1, 5, 1, 2]))  # units [-1, 5] and [1, 2]
    with pytest.raises(ValueError, match="negative -1"):
        next(items)
    assert step.lookup(5).status is None  # fail fast inside the first unit: 5 not started
    assert list(items) == [10, 2, 4]  # 5 computed when read; the other unit went on
    assert calls_of(calls) == [-1, 1, 2, 5]


def test_the_last_worker_running_leaves_the_rest_of_its_unit_to_fresh_workers(
    calls: str, tmp_path: Path
) -> None:
    # units [0..4] and [5..9]; 0 waits until the driver, whose other worker ended, asks;
    # 1 gives the pace (the first item's is not taken): its worker stops after it
    step = AwaitRestWanted(calls=calls, infra=pool("ProcessPool", tmp_path, max_jobs=2))  # type: ignore[arg-type]
    assert list(step.run_many(list(range(10)))) == [2 * x for x in range(10)]
    assert calls_of(calls) == list(range(10))  # each computed once
    pids = pid_of_each(calls)
    assert pids[0] == pids[1] and pids[0] not in {pids[x] for x in (2, 3, 4)}
    assert {pids[x] for x in (2, 3, 4)}.isdisjoint({pids[x] for x in range(5, 10)})
    assert all(step.lookup(x).status == "success" for x in range(10))


class CountingBar:
    """What a progress bar is told, for the test below (the terminal's bar itself is
    tested in test_progress.py)."""

    bars: tp.ClassVar[list[CountingBar]] = []

    def __init__(self, total: int, label: str) -> None:
        self.total, self.done, self.failed = total, 0, 0
        CountingBar.bars.append(self)

    def advance(self, done: int, failed: int) -> None:
        self.done, self.failed = self.done + done, self.failed + failed

    def close(self) -> None:
        pass


def test_items_a_worker_leaves_are_counted_by_the_bar_of_the_work_that_computes_them(
    calls: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_dispatch, "progress_for", CountingBar)
    CountingBar.bars.clear()
    step = AwaitRestWanted(calls=calls, infra=pool("ProcessPool", tmp_path, max_jobs=2))  # type: ignore[arg-type]
    assert list(step.run_many(list(range(10)))) == [2 * x for x in range(10)]
    first, rest = CountingBar.bars  # units [0..4] and [5..9]; 2, 3, 4 left to a new dispatch
    assert (first.total, first.done, first.failed) == (10, 7, 0)
    assert (rest.total, rest.done, rest.failed) == (3, 3, 0)


def test_a_step_that_cannot_be_pickled_is_named_before_anything_runs(
    calls: str, tmp_path: Path
) -> None:
    class Local(Step):  # defined in a function: pickle cannot find it by name
        def _run(self, x: int) -> int:
            Path(calls, str(x)).write_text("")
            return x

    step = Local(infra=pool("ProcessPool", tmp_path))  # type: ignore[arg-type]
    with pytest.raises(UnpicklableWorkError, match="step Local cannot be pickled") as info:
        step.run_many([1, 2])
    assert isinstance(info.value, TypeError) and "top level" in str(info.value)
    assert calls_of(calls) == [] and step.lookup(1).status is None


SCRIPT = """
    from exca.steps import Step

    class Square(Step):
        def _run(self, x: int) -> int:
            return x * x

    if __name__ == "__main__":
        step = Square(infra={"backend": "ProcessPool", "folder": "cache", "max_jobs": 2})
        print(list(step.run_many([1, 2, 3])))
"""


def test_steps_defined_in_a_scripts_main_run_on_a_process_pool(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(SCRIPT))
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1, 4, 9]"


MODULES = """
    import sys

    from exca.steps import Step

    WRITE_PATH = ("exca.steps._storing", "exca.store.objects")

    class Loaded(Step):
        def _run(self, x: int) -> list[str]:  # (this worker's first item: nothing written yet)
            return [name for name in WRITE_PATH if name in sys.modules]

    if __name__ == "__main__":
        step = Loaded(infra={"backend": "ProcessPool", "folder": "cache", "max_jobs": 2})
        print(list(step.run_many([1, 2])))
"""


def test_process_workers_inherit_the_write_path_modules_instead_of_importing_them(
    tmp_path: Path,
) -> None:
    script = tmp_path / "script.py"  # (a new driver: nothing computed or written before)
    script.write_text(textwrap.dedent(MODULES))
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded = "['exca.steps._storing', 'exca.store.objects']"
    assert done.stdout.strip() == f"[{loaded}, {loaded}]"
