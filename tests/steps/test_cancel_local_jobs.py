"""``force`` and ``clear_cache()`` on items a submitit local job exca submitted owns.

Contract pinned, with real ``LocalProcess`` jobs of a real driver process: the job that
owns a forced or cleared item is cancelled (its controller and its task end), the other
jobs go on, the forced run computes the item here and nothing else is served; a claim
naming a process that is not a submitit local controller (or naming this very process)
never gets that process signalled; a driver's pool processes are never marked as jobs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHILD = Path(__file__).parent / "_children" / "counting_step.py"
sys.path.insert(0, str(CHILD.parent))  # (the driver script, imported as its module)
import counting_step as counting  # noqa: E402

_WAIT_S = 120.0


@pytest.fixture
def counts_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "counts.txt"
    monkeypatch.setenv("COUNTED_FILE", str(path))
    return path


def _step(folder: Path, mode: str = "cached", backend: str = "Cached"):
    return counting.Counted(infra={"backend": backend, "folder": folder, "mode": mode})


def _local_jobs_driver(tmp_path: Path, counts: Path, items: list[int]) -> subprocess.Popen[str]:
    """A driver sending ``items`` to ``LocalProcess`` jobs that block for 10 minutes (its
    output in a file: its jobs' controllers inherit it, nobody reads it meanwhile)."""
    args = [str(tmp_path / "cache"), str(counts), "600", "cached", "LocalProcess"]
    with open(tmp_path / "driver.log", "w") as log:
        return subprocess.Popen(
            [sys.executable, str(CHILD), *args, *map(str, items)],
            stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + _WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {_WAIT_S} s for {what}")
        time.sleep(0.02)


def _running(pid: int) -> bool:
    from exca.store.owner import process_info

    info = process_info(pid)
    return info is not None and info.state != "Z"  # (a zombie ended: not reaped yet)


def _tasks(counts: Path) -> dict[int, int]:
    """The pid of the process that started computing each value."""
    lines = [line.split() for line in counts.read_text().splitlines()]
    return {int(value): int(pid) for pid, value in lines}


@pytest.mark.parametrize("how", ["clear_cache", "force"])
def test_clearing_or_forcing_an_item_a_local_job_owns_cancels_that_job_only(
    tmp_path: Path, counts_file: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.setenv("EXCA_CLAIM_MAX_WAIT_S", "60")  # (a job not cancelled: an error)
    driver = _local_jobs_driver(tmp_path, counts_file, [1, 2])  # one job per item
    try:
        _wait_for(lambda: counts_file.exists() and len(_tasks(counts_file)) == 2, "two jobs")
        step, tasks = _step(tmp_path / "cache"), _tasks(counts_file)
        jobs = _step(tmp_path / "cache", backend="LocalProcess")  # (job() of the same cell)
        controllers = {value: int(jobs.lookup(value).job().job_id) for value in (1, 2)}
        assert step.lookup(1).status == "running"
        if how == "clear_cache":
            step.lookup(1).clear_cache()
            assert step.lookup(1).status is None  # not running, nothing stored
            assert step.run(1) == 2
        else:
            assert _step(tmp_path / "cache", mode="force").run(1) == 2
        assert not _running(controllers[1]) and not _running(tasks[1])  # it really ended
        assert _running(controllers[2]) and _running(tasks[2])  # the other job goes on
        assert counting.counts(str(counts_file), os.getpid()) == [1]  # computed here, once
        assert step.lookup(1).result() == 2 and step.lookup(2).status == "running"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)  # (its jobs' controllers and tasks too)
        driver.wait(timeout=30)


def _claim_owned_by(folder: Path, key: str, pid: int) -> None:
    """A claim of ``key`` whose record says a local job of controller ``pid`` owns it."""
    from exca.store.claims import ClaimTable
    from exca.store.owner import local_job_owner

    table = ClaimTable(folder)
    table.hand_over(table.claim([key]), local_job_owner(pid), "0123456789abcdef")


@pytest.mark.parametrize("who", ["a process exca did not start", "this process"])
def test_a_claim_naming_a_process_that_is_no_local_job_of_exca_never_gets_it_signalled(
    tmp_path: Path, counts_file: Path, who: str
) -> None:
    step = _step(tmp_path / "cache")
    assert step.run(1) == 2  # (the cache folder exists)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        pid = sleeper.pid if who == "a process exca did not start" else os.getpid()
        _claim_owned_by(step.lookup(1).paths.cache_folder, step.lookup(1).uid, pid)
        assert step.lookup(1).status == "success"
        step.lookup(1).clear_cache()  # (this process would get a KeyboardInterrupt)
        time.sleep(0.2)
        assert sleeper.poll() is None and step.lookup(1).status == "running"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_drivers_pool_processes_are_never_marked_as_local_jobs(tmp_path: Path) -> None:
    # (a driver that runs as the task of a local job: its forked children are not tasks)
    code = (
        "import os, sys\n"
        "from exca.store import owner\n"
        "os.environ.update(SUBMITIT_EXECUTOR='local', SUBMITIT_LOCAL_JOB_ID=str(os.getppid()))\n"
        "here = owner.local_job_here()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os._exit(0 if owner.local_job_here() is None else 1)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print(here == os.getppid(), os.waitstatus_to_exitcode(status))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "0"]
