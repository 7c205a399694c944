"""Contract of the submitit backends without a cluster: only the resource fields that are set
are forwarded (Slurm-only ones prefixed ``slurm_``), dispatches split into at most
``max_jobs`` jobs of at least ``min_items_per_job`` items, ``job()`` per backend, a job that
dies reported with its id, state and log tail and not cached, and ``Slurm`` refusing clearly,
before anything runs, where Slurm is not installed; a debug job runs when its items are read
(never in the heartbeat thread)."""

from __future__ import annotations

from pathlib import Path

import pytest
from backend_steps import Die, Record, calls_of, infra, wait_for

from exca.steps import _plan
from exca.steps.backends import Auto, LocalProcess, Slurm
from exca.steps.errors import SlurmUnavailableError


def test_only_the_resource_fields_that_are_set_are_forwarded_to_submitit() -> None:
    assert LocalProcess()._submitit_parameters(3) == {}
    local = LocalProcess(job_name="prep", mem_gb=2.5, timeout_min=10, nodes=None)
    assert local._submitit_parameters(3) == {"name": "prep", "mem_gb": 2.5, "timeout_min": 10}
    on_slurm = Slurm(cpus_per_task=4, partition="gpu", additional_parameters={"comment": "x"})
    assert on_slurm._submitit_parameters(5) == {
        "cpus_per_task": 4,
        "slurm_partition": "gpu",
        "slurm_additional_parameters": {"comment": "x"},
        "slurm_use_srun": False,  # always sent: submitit's own default is True
        "slurm_array_parallelism": 5,
    }
    assert Auto(qos="high")._submitit_parameters(1)["slurm_qos"] == "high"


def test_items_are_split_into_at_most_max_jobs_parts_of_at_least_min_items_each() -> None:
    sizes = [
        [len(part) for part in _plan.split(range(n), most, least)]
        for n, most, least in [(10, 4, 3), (10, 128, 1), (5, 2, 1), (2, 8, 5), (7, 3, 2), (0, 4, 1)]
    ]
    assert sizes == [[4, 3, 3], [1] * 10, [3, 2], [2], [3, 2, 2], []]
    assert _plan.split([3, 1, 2], 2) == [[3, 1], [2]]  # contiguous, in order


def test_local_process_jobs_compute_items_and_give_their_logs(calls: str, tmp_path: Path) -> None:
    step = Record(calls=calls, infra=infra("LocalProcess", tmp_path, max_jobs=2))  # type: ignore[arg-type]
    assert list(step.run_many([1, 2, 3])) == [2, 4, 6]
    jobs = [step.lookup(value).job() for value in (1, 2, 3)]
    assert jobs[0].job_id == jobs[1].job_id != jobs[2].job_id  # 2 jobs: [1, 2] and [3]
    assert Path(jobs[2].paths.stderr).is_file()
    assert str(tmp_path / "cache") in str(jobs[2].paths.stderr)
    debug = Record(calls=calls, infra=infra("SubmititDebug", tmp_path / "d"))  # type: ignore[arg-type]
    assert debug.run(1) == 2 and debug.lookup(1).job() is None
    inline = Record(calls=calls, infra=infra("ThreadPool", tmp_path / "t"))  # type: ignore[arg-type]
    assert inline.run(1) == 2 and inline.lookup(1).job() is None


def test_a_job_that_dies_is_reported_with_its_id_and_state_and_nothing_is_cached(
    calls: str, tmp_path: Path
) -> None:
    step = Die(calls=calls, infra=infra("LocalProcess", tmp_path))  # type: ignore[arg-type]
    items = iter(step.run_many([0, 5]))
    with pytest.raises(Exception) as info:  # noqa: PT011 - submitit's error, with our notes
        next(items)
    job = step.lookup(0).job()
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert f"submitit job {job.job_id} ended in state" in notes and "logs:" in notes
    assert next(items) == 10  # the other job's item is stored
    assert step.lookup(0).status is None and calls_of(calls) == [5]


def test_slurm_where_slurm_is_not_installed_refuses_before_anything_runs(
    calls: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch, no srun
    step = Record(calls=calls, infra=infra("Slurm", tmp_path))  # type: ignore[arg-type]
    with pytest.raises(SlurmUnavailableError, match="'sbatch'") as info:
        step.run_many([1, 2])
    assert "'Auto'" in str(info.value) and calls_of(calls) == []
    auto = Record(calls=calls, infra=infra("Auto", tmp_path))  # type: ignore[arg-type]
    assert auto.run(1) == 2 and type(auto.lookup(1).job()).__name__ == "LocalJob"


def test_a_debug_job_runs_when_its_items_are_read_never_in_the_heartbeat(
    calls: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (submitit's DebugJob.done() runs the job: asking it whether it ended would run it
    # in the heartbeat's thread)
    from exca.store.claims import ClaimTable

    monkeypatch.setenv("EXCA_CLAIM_HEARTBEAT_S", "0.05")
    step = Record(calls=calls, infra=infra("SubmititDebug", tmp_path))  # type: ignore[arg-type]
    items = step.run_many([1, 2])
    table = ClaimTable(step.lookup(1).paths.cache_folder)
    wait_for(lambda: any(c.beat >= 3 for c in table.claims().values()), "three heartbeats")
    assert calls_of(calls) == []  # not run yet: by the driver, when read
    assert list(items) == [2, 4] and calls_of(calls) == [1, 2]
