"""Contract of the ``Slurm`` and ``Auto`` backends on a real Slurm cluster: one job array per
dispatch sized by ``max_jobs``/``min_items_per_job``, resource fields Slurm sees, errors
cached per item, ``job()`` log paths from a new process, a job killed by its time limit
reported and not cached, and a chain with infra in one job. Skipped, saying why, where no
cluster answers (``bash ../shared/tools/slurm-local-cluster.sh start`` starts one)."""

from __future__ import annotations

import os
import subprocess
import sys
import typing as tp
from pathlib import Path

import pytest
from backend_steps import Record, Sleep, calls_of, pids_of, skip_without_slurm

from exca.steps import Chain
from exca.steps.backends import Cached


@pytest.fixture(autouse=True)
def _needs_slurm() -> None:
    skip_without_slurm()


def slurm(folder: Path, backend: str = "Slurm", **fields: tp.Any) -> dict[str, tp.Any]:
    return {"backend": backend, "folder": folder / "cache", **fields}


def job_fields(job_id: str) -> dict[str, str]:
    """``scontrol show job`` as a dict (jobs stay known to it for MinJobAge after the end)."""
    text = subprocess.run(
        ["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, check=True
    ).stdout
    return dict(part.split("=", 1) for part in text.split() if "=" in part)


@pytest.mark.parametrize("backend", ["Slurm", "Auto"])
def test_items_are_computed_by_one_job_array_of_at_most_max_jobs_jobs(
    backend: str, calls: str, tmp_path: Path
) -> None:
    infra = slurm(tmp_path, backend, max_jobs=4, min_items_per_job=3)
    step = Record(calls=calls, infra=infra)  # type: ignore[arg-type]
    values = list(range(10))
    assert list(step.run_many(values)) == [2 * v for v in values]
    jobs = {value: step.lookup(value).job() for value in values}
    ids = {job.job_id for job in jobs.values()}
    assert len(ids) == 3  # 10 items, at least 3 per job, at most 4 jobs: 4 + 3 + 3
    assert len({job_id.split("_")[0] for job_id in ids}) == 1  # one array
    assert {jobs[0].job_id, jobs[3].job_id} == {jobs[0].job_id}  # first 4 items together
    assert os.getpid() not in pids_of(calls) and calls_of(calls) == values


def test_the_resource_fields_that_are_set_reach_slurm(calls: str, tmp_path: Path) -> None:
    infra = slurm(
        tmp_path,
        job_name="exca-resources",
        timeout_min=7,
        cpus_per_task=1,
        mem_gb=1,
        partition="debug",
        additional_parameters={"comment": "exca-test-comment"},
    )
    step = Record(calls=calls, infra=infra)  # type: ignore[arg-type]
    assert step.run(1) == 2
    job = step.lookup(1).job()
    fields = job_fields(job.job_id)
    assert fields["JobName"] == "exca-resources" and fields["TimeLimit"] == "00:07:00"
    assert fields["Partition"] == "debug" and fields["Comment"] == "exca-test-comment"
    assert fields["MinMemoryNode"] == "1G" and fields["NumCPUs"] == "1"


def test_a_worker_error_is_cached_per_item_and_raised_in_the_driver_with_its_traceback(
    calls: str, tmp_path: Path
) -> None:
    step = Record(calls=calls, infra=slurm(tmp_path))  # type: ignore[arg-type]
    items = iter(step.run_many([-1, 4]))
    with pytest.raises(ValueError, match="negative -1") as info:
        next(items)
    assert next(items) == 8
    notes = "\n".join(info.value.__notes__)
    assert "reraised from cache" in notes and "in _run" in notes
    assert step.lookup(-1).status == "error" and calls_of(calls) == [-1, 4]


LOOKUP_CHILD = """
import sys
from backend_steps import Record
step = Record(calls=sys.argv[1], infra={"backend": "Slurm", "folder": sys.argv[2]})
job = step.lookup(3).job()
print(job.job_id, job.paths.stdout, job.paths.stderr, sep="\\n")
"""


def test_job_gives_usable_log_paths_from_a_new_process(calls: str, tmp_path: Path) -> None:
    step = Record(calls=calls, infra=slurm(tmp_path))  # type: ignore[arg-type]
    assert step.run(3) == 6
    done = subprocess.run(
        [sys.executable, "-c", LOOKUP_CHILD, calls, str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        check=True,
    )
    job_id, stdout, stderr = done.stdout.split()
    assert job_id == step.lookup(3).job().job_id
    assert Path(stdout).is_file() and Path(stderr).is_file()
    assert str(tmp_path / "cache") in stderr  # the logs live under the step folder
    assert Record(calls=calls, infra=Cached(folder=tmp_path / "c2")).lookup(3).job() is None


@pytest.mark.slow
def test_a_job_killed_by_its_time_limit_is_reported_and_its_item_not_cached(
    calls: str, tmp_path: Path
) -> None:
    step = Sleep(calls=calls, seconds=600, infra=slurm(tmp_path, timeout_min=1))  # type: ignore[arg-type]
    with pytest.raises(Exception) as info:  # noqa: PT011 - submitit's error, with our notes
        step.run(1)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "submitit job" in notes and "state" in notes and str(tmp_path) in notes
    assert step.lookup(1).status is None  # not cached: a next run computes it


def test_a_chain_with_infra_runs_as_one_job_and_caches_its_sub_steps(
    calls: str, tmp_path: Path
) -> None:
    first = Record(calls=calls, coeff=10, infra=Cached(folder=tmp_path / "cache"))
    chain = Chain(steps=[first, Record(calls=calls, coeff=3)], infra=slurm(tmp_path, max_jobs=1))  # type: ignore[arg-type]
    assert list(chain.run_many([1, 2])) == [30, 60]
    assert len(pids_of(calls)) == 1 and os.getpid() not in pids_of(calls)
    assert chain.lookup(1).job().job_id == chain.lookup(2).job().job_id
    assert chain[0].lookup(2).status == "success"
