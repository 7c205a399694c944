"""Compute once with Slurm owners, on the real local Slurm cluster (skipped without one).

Contract pinned: an owner's Slurm job state is trusted over its heartbeat: a claim of
a job that ended is taken over at once although its worker still beats; a claim of a
job unknown to ``sacct`` is taken over within the bound, not waited for forever
(defect 9 of exca 0.6.0); a job cancelled with ``scancel`` while it owns items (its
worker ignoring SIGTERM and beating on) is taken over by the next driver, its items
computed there and never cached as successes by the job; ``clear_cache()`` and
``force`` on items a live Slurm job owns cancel that job, as exca 0.6.0 does; two
drivers running as Slurm jobs, and two drivers using the ``Slurm`` backend, over
overlapping items compute each item once; a job array of the ``Slurm`` backend
cancelled while its tasks own items is taken over by the next driver, nothing of it
cached as a success.
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


@pytest.mark.parametrize("how", ["clear_cache", "force"])
def test_clearing_or_forcing_an_item_a_live_job_owns_cancels_the_job(
    tmp_path: Path, counts_file: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.setenv("EXCA_CLAIM_MAX_WAIT_S", "120")
    job = _submit(tmp_path, counts_file, 600, [1, 2], "owner")
    _wait_log(tmp_path, "owner", "started", job)
    if how == "clear_cache":
        _step(tmp_path / "cache").lookup(1).clear_cache()
    else:
        assert _step(tmp_path / "cache", mode="force").run(1) == 2
    assert _wait_state(job, {"CANCELLED"}) == "CANCELLED"


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
        deadline = time.monotonic() + 120
        while not counting.counts(str(counts_file)):  # its job computes item 1 now
            assert time.monotonic() < deadline and driver.poll() is None, "driver ended"
            time.sleep(0.2)
        step = _step(tmp_path / "cache")
        claims = ClaimTable(step.lookup(1).paths.cache_folder).claims().values()
        tasks = {claim.owner.slurm_job for claim in claims} - {None}
        assert tasks  # array tasks that started own their unit's items (the others: the driver)
        assert step.lookup(1).status == "running"
        array = {str(task).split("_")[0] for task in tasks}
        assert len(array) == 1  # one job array for the dispatch
        subprocess.run(["scancel", *array], check=True)
        for task in tasks:
            _wait_state(str(task), {"CANCELLED"})
        assert step.lookup(1).status != "success"  # nothing cached as a success by the job
        assert list(step.run_many([1, 2, 3])) == [2, 4, 6]
        assert sorted(counting.counts(str(counts_file), os.getpid())) == [1, 2, 3]
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
