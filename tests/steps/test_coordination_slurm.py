"""Compute once with Slurm owners, on the real local Slurm cluster (skipped without one).

Contract pinned: an owner's Slurm job state is trusted over its heartbeat: a claim of
a job that ended is taken over at once although its worker still beats; a claim of a
job unknown to Slurm is taken over within the bound, not waited for forever (defect 9
of exca 0.6.0), while a job just submitted (unknown to ``sacct`` for seconds) or an
array task still queued counts as running; a job cancelled with ``scancel`` while it
owns items (its worker ignoring SIGTERM and beating on) is taken over by the next
driver, its items computed there and never cached as successes by the job;
``clear_cache()`` and ``force`` on items a worker job exca submitted owns cancel that
job, as exca 0.6.0 does, but never a driver running inside a Slurm job; two drivers
running as Slurm jobs, and two drivers using the ``Slurm`` backend, over overlapping
items compute each item once; a driver that exits while its array tasks are queued
leaves their items claimed (a second driver waits and reads); a job array of the
``Slurm`` backend cancelled while its tasks own items is taken over by the next
driver, nothing of it cached as a success.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import typing as tp
from pathlib import Path

import msgpack
import pytest

CHILD = Path(__file__).parent / "_children" / "counting_step.py"


def _cluster_answers() -> bool:
    if shutil.which("sbatch") is None or shutil.which("sacct") is None:
        return False
    try:
        ping = subprocess.run(["sinfo", "-h"], capture_output=True, timeout=10)
        acct = subprocess.run(["sacct", "-n", "-X"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return ping.returncode == 0 and acct.returncode == 0


pytestmark = pytest.mark.skipif(
    not _cluster_answers(),
    reason="no Slurm cluster answers (sbatch, sinfo, sacct); start one with "
    "'bash ../shared/tools/slurm-local-cluster.sh start' to run these tests",
)


sys.path.insert(0, str(CHILD.parent))  # (the driver script, imported as its module)
import counting_step as counting  # noqa: E402

_SUBMITTED: list[str] = []  # jobs of the running test


@pytest.fixture
def counts_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tp.Iterator[Path]:
    """The file computations are counted in; at the end, the jobs of the test are
    cancelled and their workers killed (one that ignores SIGTERM outlives its job)."""
    path = tmp_path / "counts.txt"
    monkeypatch.setenv("COUNTED_FILE", str(path))
    yield path
    if _SUBMITTED:
        subprocess.run(["scancel", *_SUBMITTED], capture_output=True)
        _SUBMITTED.clear()
    pids = (
        {int(line.split()[0]) for line in path.read_text().splitlines()} if path.exists() else set()
    )
    for pid in pids - {os.getpid()}:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _step(folder: Path, mode: str = "cached"):
    return counting.Counted(infra={"backend": "Cached", "folder": folder, "mode": mode})


def _state(job: str) -> str:
    out = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-o", "State", "-j", job], capture_output=True, text=True
    ).stdout.split()
    return out[0] if out else ""


def _wait_state(job: str, states: set[str], timeout_s: float = 120) -> str:
    deadline = time.monotonic() + timeout_s
    while (state := _state(job)) not in states:
        assert time.monotonic() < deadline, f"job {job} stayed {state!r}, expected {states}"
        time.sleep(0.2)
    return state


def _wait_all_cancelled(array: str, timeout_s: float = 120) -> None:
    """Wait until every task of job array ``array`` is CANCELLED in accounting (tasks
    that never started are listed as one range line, ``<array>_[2-3]``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        out = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", array],
            capture_output=True, text=True,
        ).stdout  # fmt: skip
        states = [(line.partition("|")[2].split() or [""])[0] for line in out.splitlines()]
        if states and all(state == "CANCELLED" for state in states):
            return
        assert time.monotonic() < deadline, f"job array {array}: {out!r}, expected CANCELLED"
        time.sleep(0.2)


def _submit(tmp_path: Path, counts: Path, delay: float, items: list[int], name: str) -> str:
    """Submit a driver of ``Counted`` as a Slurm batch job; returns its job id."""
    log = tmp_path / f"{name}.out"
    command = [sys.executable, str(CHILD), str(tmp_path / "cache"), str(counts), str(delay)]
    command += ["cached", "Cached", *map(str, items)]
    done = subprocess.run(
        ["sbatch", "--parsable", f"--output={log}", f"--job-name={name}",
         "--wrap", " ".join(command)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    _SUBMITTED.append(done.stdout.strip().split(";")[0])
    return _SUBMITTED[-1]


def _wait_log(tmp_path: Path, name: str, word: str, job: str, timeout_s: float = 120) -> str:
    log, deadline = tmp_path / f"{name}.out", time.monotonic() + timeout_s
    while True:
        text = log.read_text() if log.exists() else ""
        if word in text:
            return text
        assert time.monotonic() < deadline, f"job {job} ({_state(job)}) never printed {word}"
        time.sleep(0.2)


def _remote_claim(cache: Path, keys: list[str], slurm_job: str) -> Path:
    owner = {"host": "elsewhere.example", "pid": 1, "started": None, "slurm_job": slurm_job}
    folder = cache / "claims"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "fedcba9876543210.0"
    path.write_bytes(msgpack.packb({"format": 1, "owner": owner, "keys": keys}))
    return path


def _beat_forever(path: Path, stop: threading.Event) -> threading.Thread:
    def run() -> None:
        current, beat = path, 0
        while not stop.wait(0.05):
            beat += 1
            new = current.with_name(f"{current.name.split('.')[0]}.{beat}")
            try:
                os.rename(current, new)
            except FileNotFoundError:
                return  # taken over
            current = new

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _take_over_beating_claim(tmp_path: Path, job: str) -> float:
    step = _step(tmp_path / "cache")
    cache = step.lookup(3).paths.cache_folder
    stop = threading.Event()
    beater = _beat_forever(_remote_claim(cache, [step.lookup(3).uid], job), stop)
    start = time.monotonic()
    try:
        assert step.run(3) == 6
    finally:
        stop.set()
        beater.join()
    return time.monotonic() - start


def test_a_beating_claim_of_an_ended_slurm_job_is_taken_over_at_once(
    tmp_path: Path, counts_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXCA_CLAIM_STALE_S", "600")  # only Slurm's word can end the wait
    monkeypatch.setenv("EXCA_CLAIM_MAX_WAIT_S", "120")
    done = subprocess.run(["sbatch", "--parsable", "--output=/dev/null", "--wrap", "true"], capture_output=True,
                          text=True, check=True)  # fmt: skip
    job = done.stdout.strip().split(";")[0]
    _wait_state(job, {"COMPLETED"})
    assert _take_over_beating_claim(tmp_path, job) < 60
    assert counting.counts(str(counts_file)) == [3]


def test_a_claim_of_a_job_unknown_to_sacct_is_not_alive_forever(
    tmp_path: Path, counts_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # defect 9: exca 0.6.0 counts a job sacct does not know as alive, and waits forever
    monkeypatch.setenv("EXCA_CLAIM_STALE_S", "1.0")
    monkeypatch.setenv("EXCA_CLAIM_MAX_WAIT_S", "120")
    assert _state("987654321") == ""
    assert _take_over_beating_claim(tmp_path, "987654321") >= 1.0
    assert counting.counts(str(counts_file)) == [3]


def test_a_job_cancelled_while_owning_items_is_taken_over_by_the_next_driver(
    tmp_path: Path, counts_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXCA_CLAIM_STALE_S", "600")  # its worker beats on after scancel
    monkeypatch.setenv("EXCA_CLAIM_HEARTBEAT_S", "0.2")
    monkeypatch.setenv("EXCA_CLAIM_MAX_WAIT_S", "120")
    monkeypatch.setenv("COUNTED_IGNORE_SIGTERM", "1")
    job = _submit(tmp_path, counts_file, 600, [1, 2, 3], "owner")
    _wait_log(tmp_path, "owner", "started", job)
    step = _step(tmp_path / "cache")
    assert step.lookup(1).status == "running"
    subprocess.run(["scancel", job], check=True)
    _wait_state(job, {"CANCELLED"})
    assert list(step.run_many([1, 2, 3])) == [2, 4, 6]
    assert sorted(counting.counts(str(counts_file))) == [1, 1, 2, 3]  # item 1: job's, ours


def _wait_computing(driver: subprocess.Popen, counts: Path) -> None:
    deadline = time.monotonic() + 120
    while not counting.counts(str(counts)):
        assert time.monotonic() < deadline and driver.poll() is None, "driver ended"
        time.sleep(0.2)


def _end_state(job: str) -> str:
    return _wait_state(job, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"})


@pytest.mark.parametrize("how", ["clear_cache", "force"])
def test_clearing_or_forcing_items_a_driver_inside_a_slurm_job_owns_never_cancels_it(
    tmp_path: Path, counts_file: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    # a user's sbatch script calling run_many inline: its job is the user's allocation
    monkeypatch.setenv("EXCA_CLAIM_MAX_WAIT_S", "120")
    job = _submit(tmp_path, counts_file, 4, [1, 2], "driver")
    _wait_log(tmp_path, "driver", "started", job)
    if how == "clear_cache":
        _step(tmp_path / "cache").lookup(1).clear_cache()
    else:  # waits for the driver's item, then recomputes it (supersedes it)
        assert _step(tmp_path / "cache", mode="force").run(1) == 2
    assert _end_state(job) == "COMPLETED"  # (CANCELLED, before)
    assert "done" in _wait_log(tmp_path, "driver", "done", job)


@pytest.mark.parametrize("how", ["clear_cache", "force"])
def test_clearing_or_forcing_items_a_worker_job_owns_cancels_that_job(
    tmp_path: Path, counts_file: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    from exca.store.claims import ClaimTable

    monkeypatch.setenv("EXCA_CLAIM_MAX_WAIT_S", "120")
    driver = _local_driver(tmp_path, counts_file, 600, [1, 2], "Slurm")
    try:
        _wait_computing(driver, counts_file)  # a job computes item 1 or 2 now
        step = _step(tmp_path / "cache")
        value = counting.counts(str(counts_file))[0]
        claims = ClaimTable(step.lookup(value).paths.cache_folder).claims().values()
        (task,) = {c.owner.slurm_job for c in claims if step.lookup(value).uid in c.keys}
        if how == "clear_cache":
            step.lookup(value).clear_cache()
        else:
            assert _step(tmp_path / "cache", mode="force").run(value) == 2 * value
        assert _end_state(str(task)) == "CANCELLED"
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)


def test_two_drivers_as_slurm_jobs_compute_each_item_once(
    tmp_path: Path, counts_file: Path
) -> None:
    first = _submit(tmp_path, counts_file, 0.2, list(range(0, 12)), "first")
    _wait_log(tmp_path, "first", "started", first)
    second = _submit(tmp_path, counts_file, 0.2, list(range(6, 18)), "second")
    for job, name in ((first, "first"), (second, "second")):
        _wait_state(job, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"})
        assert "done" in _wait_log(tmp_path, name, "done", job)
    assert sorted(counting.counts(str(counts_file))) == list(range(18))


def _local_driver(tmp_path: Path, counts: Path, delay: float, items: list[int], backend: str):
    """A driver process on this host (its output in files: nobody reads it meanwhile)."""
    args = [str(tmp_path / "cache"), str(counts), str(delay), "cached", backend]
    log = open(tmp_path / f"driver-{len(list(tmp_path.glob('driver-*')))}.log", "w")  # noqa: SIM115
    with log:
        return subprocess.Popen(
            [sys.executable, str(CHILD), *args, *map(str, items)],
            stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip


def test_two_drivers_with_the_slurm_backend_compute_each_item_once(
    tmp_path: Path, counts_file: Path
) -> None:
    drivers = [
        _local_driver(tmp_path, counts_file, 0.2, items, "Slurm")
        for items in (list(range(0, 10)), list(range(5, 15)))
    ]
    for driver in drivers:
        assert driver.wait(timeout=300) == 0, (tmp_path / "driver-0.log").read_text()
    assert sorted(counting.counts(str(counts_file))) == list(range(15))


def test_a_slurm_backend_job_cancelled_while_owning_items_is_taken_over(
    tmp_path: Path, counts_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exca.store.claims import ClaimTable

    monkeypatch.setenv("EXCA_CLAIM_MAX_WAIT_S", "120")
    driver = _local_driver(tmp_path, counts_file, 600, [1, 2, 3], "Slurm")
    try:
        _wait_computing(driver, counts_file)  # its job computes item 1 now
        step = _step(tmp_path / "cache")
        claims = ClaimTable(step.lookup(1).paths.cache_folder).claims().values()
        tasks = {claim.owner.slurm_job for claim in claims} - {None}
        assert tasks  # the array tasks own their unit's items (handed over at submission)
        assert step.lookup(1).status == "running"
        array = {str(task).split("_")[0] for task in tasks}
        assert len(array) == 1  # one job array for the dispatch
        subprocess.run(["scancel", *array], check=True)
        _wait_all_cancelled(array.pop())
        assert step.lookup(1).status != "success"  # nothing cached as a success by the job
        assert list(step.run_many([1, 2, 3])) == [2, 4, 6]
        assert sorted(counting.counts(str(counts_file), os.getpid())) == [1, 2, 3]
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)


def test_a_detached_drivers_queued_array_tasks_keep_their_items_claimed(
    tmp_path: Path, counts_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXCA_CLAIM_MAX_WAIT_S", "300")
    monkeypatch.setenv("EXCA_CLAIM_STALE_S", "2")  # (the driver's heartbeat stops at once)
    blocker = subprocess.run(  # every CPU of the cluster: the array tasks stay queued
        ["sbatch", "--parsable", "--output=/dev/null", f"--cpus-per-task={_cpus()}",
         "--wrap", "sleep 600"], capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    _SUBMITTED.append(blocker)
    _wait_state(blocker, {"RUNNING"})
    monkeypatch.setenv("COUNTED_DETACH", "1")
    first = _local_driver(tmp_path, counts_file, 0, [1, 2, 3], "Slurm")
    assert first.wait(timeout=120) == 0  # submitted, then exited without reading
    monkeypatch.delenv("COUNTED_DETACH")
    second = _local_driver(tmp_path, counts_file, 0, [1, 2, 3], "Cached")
    try:
        time.sleep(5)  # (long past the stale bound: the first driver's pid is gone)
        assert second.poll() is None, "the second driver did not wait"
        assert counting.counts(str(counts_file)) == []  # nobody computed yet
        subprocess.run(["scancel", blocker], check=True)
        assert second.wait(timeout=300) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(second.pid, signal.SIGKILL)
    log = next(tmp_path.glob("driver-1.log")).read_text()
    assert "done [2, 4, 6]" in log
    computed = [line.split() for line in counts_file.read_text().splitlines()]
    assert sorted(int(value) for _, value in computed) == [1, 2, 3]  # once each
    assert str(second.pid) not in {pid for pid, _ in computed}  # by the array's tasks


def _cpus() -> int:
    out = subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True).stdout
    return int(out.split()[0].rstrip("+"))


def test_a_job_just_submitted_or_queued_counts_as_running_before_accounting_knows_it(
    tmp_path: Path, counts_file: Path
) -> None:
    done = subprocess.run(
        ["sbatch", "--parsable", "--hold", "--array=0-1", "--output=/dev/null",
         "--wrap", "sleep 600"], capture_output=True, text=True, check=True,
    )  # fmt: skip
    array = done.stdout.strip().split(";")[0]
    _SUBMITTED.append(array)
    step = _step(tmp_path / "cache")
    _remote_claim(step.lookup(3).paths.cache_folder, [step.lookup(3).uid], f"{array}_1")
    assert step.lookup(3).status == "running"  # sacct knows nothing yet: the controller does
    deadline = time.monotonic() + 120
    while not _state(array):  # (accounting learns of it some seconds later)
        assert time.monotonic() < deadline, "accounting never knew the job"
        time.sleep(0.5)
    assert step.lookup(3).status == "running"  # a queued task: in sacct's range 'N_[0-1]'
    subprocess.run(["scancel", array], check=True)
    _wait_state(array, {"CANCELLED"})
    assert step.lookup(3).status is None  # ended: its claim holds nothing any more
