"""Compute once across drivers (``steps/_coordinate.py`` over ``exca.store.claims``).

Contract pinned, with real processes and threads: two drivers running one step over
overlapping items compute each item once, with ``Cached``, ``ThreadPool`` and
``ProcessPool``, the second waiting and reading the first's results; a driver killed
with SIGKILL (with its pool workers) while it owns items is taken over at once (its pid
is gone) and its items computed; a claim of another host whose heartbeat stopped is
taken over after the bound, one that beats is waited for, and every wait ends (an
owner that stays alive past the bound gives an error naming it and its claim);
``lookup().status`` is ``"running"`` while a live worker owns an item; ``force`` on an
item a live local worker owns waits for it, then recomputes (supersedes it); a worker
process replaces its driver's claim with its own; a driver that exits once its
``LocalProcess`` jobs are submitted leaves their items claimed by the jobs (handed over at
submission), so that a second driver waits for them; losing the claim records costs
duplicate work, never a wrong value.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import msgpack
import pytest

from exca.steps.errors import ClaimWaitTimeoutError

CHILD = Path(__file__).parent / "_children" / "counting_step.py"


sys.path.insert(0, str(CHILD.parent))  # (the driver script, imported as its module)
import counting_step as counting  # noqa: E402


@pytest.fixture
def counts_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "counts.txt"
    monkeypatch.setenv("COUNTED_FILE", str(path))
    return path


def _driver(
    folder: Path,
    counts: Path,
    delay: float,
    items: list[int],
    mode: str = "cached",
    backend: str = "Cached",
) -> subprocess.Popen[str]:
    """A driver process running ``Counted`` over ``items`` (in a session of its own, so
    that killing its group kills its pool workers too)."""
    args = [str(folder), str(counts), str(delay), mode, backend, *map(str, items)]
    return subprocess.Popen(
        [sys.executable, str(CHILD), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip


def _wait_started(child: subprocess.Popen[str]) -> None:
    assert child.stdout is not None
    line = child.stdout.readline()
    if "started" not in line:  # (pool workers may print it on one line together)
        child.kill()
        pytest.fail(f"driver did not start computing: {line!r} {child.stderr.read()}")


def _results(child: subprocess.Popen[str]) -> list[int]:
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1].split(" ", 1)[1])


def _step(folder: Path, delay: float = 0.0, mode: str = "cached"):
    return counting.Counted(
        delay=delay, infra={"backend": "Cached", "folder": folder, "mode": mode}
    )


@pytest.mark.parametrize("backend", ["Cached", "ThreadPool", "ProcessPool"])
def test_two_processes_on_overlapping_items_compute_each_once(
    tmp_path: Path, counts_file: Path, backend: str
) -> None:
    first = _driver(tmp_path / "cache", counts_file, 0.05, list(range(0, 20)), backend=backend)
    _wait_started(first)
    second = _driver(tmp_path / "cache", counts_file, 0.05, list(range(10, 30)), backend=backend)
    assert _results(first) == [2 * i for i in range(0, 20)]
    assert _results(second) == [2 * i for i in range(10, 30)]
    assert sorted(counting.counts(str(counts_file))) == list(range(30))


@pytest.mark.parametrize("backend", ["Cached", "ThreadPool"])
def test_two_threads_on_the_same_items_compute_each_once(
    tmp_path: Path, counts_file: Path, backend: str
) -> None:
    results: list[list[int]] = []

    def drive() -> None:
        infra = {"backend": backend, "folder": tmp_path / "cache"}
        results.append(list(counting.Counted(delay=0.02, infra=infra).run_many(range(15))))

    threads = [threading.Thread(target=drive) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert results == [[2 * i for i in range(15)]] * 2
    assert sorted(counting.counts(str(counts_file))) == list(range(15))


def test_a_live_owner_is_waited_for_and_its_results_read(tmp_path: Path, counts_file: Path) -> None:
    owner = _driver(tmp_path / "cache", counts_file, 0.5, [1, 2])
    _wait_started(owner)
    assert list(_step(tmp_path / "cache").run_many([1, 2])) == [2, 4]
    assert _results(owner) == [2, 4]
    assert sorted(counting.counts(str(counts_file))) == [1, 2]  # computed by the owner only


@pytest.mark.parametrize("backend", ["Cached", "ProcessPool"])
def test_a_driver_killed_while_owning_items_is_taken_over_at_once(
    tmp_path: Path, counts_file: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    monkeypatch.setenv("EXCA_CLAIM_MAX_WAIT_S", "60")  # far below: the pid check decides
    owner = _driver(tmp_path / "cache", counts_file, 600, [1, 2, 3], backend=backend)
    _wait_started(owner)
    assert _step(tmp_path / "cache").lookup(1).status == "running"
    os.killpg(owner.pid, signal.SIGKILL)  # the driver and its pool workers
    owner.wait(timeout=30)
    deadline = time.monotonic() + 30  # (a killed pool worker is reaped by init meanwhile)
    while _step(tmp_path / "cache").lookup(1).status is not None:
        assert time.monotonic() < deadline, "a killed owner still counts as running"
        time.sleep(0.05)
    assert list(_step(tmp_path / "cache").run_many([1, 2, 3])) == [2, 4, 6]
    assert sorted(counting.counts(str(counts_file), os.getpid())) == [1, 2, 3]  # all here


def _remote_claim(cache: Path, keys: list[str], slurm_job: str | None = None) -> Path:
    """A claim record as a process on another host writes it (the format's fields)."""
    owner = {"host": "elsewhere.example", "pid": 1, "started": None, "slurm_job": slurm_job}
    record = {"format": 1, "owner": owner, "keys": keys}
    folder = cache / "claims"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ("0123456789abcdef" + ".0")
    path.write_bytes(msgpack.packb(record))
    return path


def _cache_folder(folder: Path) -> Path:
    return _step(folder).lookup(1).paths.cache_folder


class _Beater:
    """Beats a remote claim (renames it), as its live owner's heartbeat would."""

    def __init__(self, path: Path) -> None:
        self.path, self.stop = path, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        beat = 0
        while not self.stop.wait(0.05):
            new = self.path.with_name(f"{self.path.name.split('.')[0]}.{beat + 1}")
            os.rename(self.path, new)
            self.path, beat = new, beat + 1


def test_a_remote_claim_whose_heartbeat_stopped_is_taken_over_after_the_bound(
    tmp_path: Path, counts_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXCA_CLAIM_STALE_S", "1.0")
    step = _step(tmp_path / "cache")
    key = step.lookup(7).uid
    claim = _remote_claim(_cache_folder(tmp_path / "cache"), [key])
    assert step.lookup(7).status == "running"  # another host, no Slurm: it may be alive
    start = time.monotonic()
    assert step.run(7) == 14
    assert time.monotonic() - start >= 1.0  # waited for the bound, on our own clock
    assert counting.counts(str(counts_file)) == [7]
    assert not claim.exists()


def test_a_beating_remote_claim_is_waited_for_until_the_wait_bound(
    tmp_path: Path, counts_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXCA_CLAIM_STALE_S", "0.5")
    monkeypatch.setenv("EXCA_CLAIM_MAX_WAIT_S", "2.0")
    step = _step(tmp_path / "cache")
    beater = _Beater(_remote_claim(_cache_folder(tmp_path / "cache"), [step.lookup(7).uid]))
    try:
        with pytest.raises(ClaimWaitTimeoutError, match="elsewhere.example") as caught:
            step.run(7)
    finally:
        beater.stop.set()
        beater.thread.join()
    assert "0123456789abcdef" in str(caught.value) and "EXCA_CLAIM_MAX_WAIT_S" in str(caught.value)
    assert isinstance(caught.value, TimeoutError)
    assert counting.counts(str(counts_file)) == []  # never computed while it beat


def test_force_on_an_item_a_live_local_worker_owns_waits_then_recomputes(
    tmp_path: Path, counts_file: Path
) -> None:
    owner = _driver(tmp_path / "cache", counts_file, 0.5, [5])
    _wait_started(owner)
    assert _step(tmp_path / "cache", mode="force").run(5) == 10
    assert _results(owner) == [10]
    assert counting.counts(str(counts_file)) == [5, 5]  # the owner's, then the forced one


_WORKER = """
import json, os, sys
from exca.store.claims import ClaimTable
from exca.store.owner import Owner
from exca.steps._coordinate import ClaimToken, working_under
folder, token, driver = sys.argv[1], sys.argv[2], Owner(**json.loads(sys.argv[3]))
table = ClaimTable(folder)
with working_under(table, ClaimToken(token, driver), ["a", "b"]):
    inside = [(c.owner.pid, sorted(c.keys)) for c in table.claims().values()]
print(json.dumps({"inside": inside, "after": len(table.claims()), "pid": os.getpid()}))
"""


def test_a_worker_process_replaces_its_drivers_claim_with_its_own(tmp_path: Path) -> None:
    from exca.steps._coordinate import ClaimToken, working_under
    from exca.store.claims import ClaimTable
    from exca.store.owner import current_owner

    table = ClaimTable(tmp_path)
    lease = table.claim(["a", "b"])
    with working_under(table, ClaimToken.of(lease), ["a", "b"]):
        assert list(table.claims()) == [lease.token]  # a thread worker: the driver's claim
    args = [str(tmp_path), lease.token, json.dumps(dataclasses.asdict(current_owner()))]
    out = subprocess.run(
        [sys.executable, "-c", _WORKER, *args], capture_output=True, text=True, check=True
    ).stdout
    seen = json.loads(out)
    assert seen["inside"] == [[seen["pid"], ["a", "b"]]]  # the worker's own, naming it
    assert seen["after"] == 0  # released by the worker once its block ended
    lease.release()


def test_losing_the_claim_records_costs_duplicate_work_never_a_wrong_value(
    tmp_path: Path, counts_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXCA_CLAIM_HEARTBEAT_S", "0.05")  # the owner beats a lost record
    owner = _driver(tmp_path / "cache", counts_file, 0.5, [1, 2])
    _wait_started(owner)
    shutil.rmtree(_cache_folder(tmp_path / "cache") / "claims")
    assert list(_step(tmp_path / "cache").run_many([1, 2])) == [2, 4]
    assert _results(owner) == [2, 4]
    assert sorted(counting.counts(str(counts_file))) == [1, 1, 2, 2]
    assert list(_step(tmp_path / "cache").run_many([1, 2])) == [2, 4]


def test_a_detached_drivers_local_jobs_keep_their_items_claimed(
    tmp_path: Path, counts_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COUNTED_DETACH", "1")  # it exits once its jobs are submitted
    monkeypatch.setenv("COUNTED_SLOW_START", "4")  # its jobs take their claims over late
    args = [str(tmp_path / "cache"), str(counts_file), "0", "cached", "LocalProcess"]
    with open(tmp_path / "first.log", "w") as log:  # (its jobs inherit it: not a pipe)
        first = subprocess.Popen(
            [sys.executable, str(CHILD), *args, "1", "2", "3"], stdout=log,
            stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
    assert first.wait(timeout=120) == 0, (tmp_path / "first.log").read_text()
    monkeypatch.delenv("COUNTED_DETACH")
    monkeypatch.delenv("COUNTED_SLOW_START")
    second = _driver(tmp_path / "cache", counts_file, 0, [1, 2, 3])
    try:
        time.sleep(1.5)  # (the first driver is gone; its jobs have not started computing)
        assert second.poll() is None, "the second driver did not wait"
        assert _results(second) == [2, 4, 6]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(second.pid, signal.SIGKILL)
    computed = [line.split() for line in counts_file.read_text().splitlines()]
    assert sorted(int(value) for _, value in computed) == [1, 2, 3]  # once each
    assert str(second.pid) not in {pid for pid, _ in computed}  # by the local jobs
