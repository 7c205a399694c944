"""Backend rows of :mod:`compare_reference`: pools over trivial and CPU-bound misses, and a
Slurm job array end to end, for both sides, with the pool speed-up target checked.

Every run is a new process. Most rows are measured with the run's modules loaded (a
warm-up run of the same backend on another folder first, untimed, both sides): they
show what a backend costs, not what the first run of a process pays to import numpy
and the store (0.1-0.25 s here, the same for every backend). Rows marked "first run"
keep that cost in, as a user's first ``run_many`` in a new process sees it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any, NamedTuple

LOOPS_ENV = "EXCA_BENCH_LOOPS_PER_MS"  # (backend_workload.LOOPS_ENV: that module imports exca)
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "backend_workload.py")
POOL_JOBS = 2  # workers of the pools (the machine's cores here)
SPEEDUP_TARGET = 1.8  # ProcessPool over inline, 64 items of 50 ms of CPU, ours, modules loaded


class Workload(NamedTuple):
    metric: str
    backend: str
    count: int  # items
    ms: float  # of CPU per item
    fields: dict[str, Any]  # of the backend
    warm_up: bool = True  # modules loaded by a run on another folder first


WORKLOADS = [
    Workload("trivial_Cached", "Cached", 1000, 0.0, {}),
    Workload("trivial_ThreadPool", "ThreadPool", 1000, 0.0, {"max_jobs": POOL_JOBS}),
    Workload("trivial_ProcessPool", "ProcessPool", 1000, 0.0, {"max_jobs": POOL_JOBS}),
    Workload("cpu_Cached", "Cached", 64, 50.0, {}),
    Workload("cpu_ThreadPool", "ThreadPool", 64, 50.0, {"max_jobs": POOL_JOBS}),
    Workload("cpu_ProcessPool", "ProcessPool", 64, 50.0, {"max_jobs": POOL_JOBS}),
    Workload("cpu_Cached_first", "Cached", 64, 50.0, {}, warm_up=False),
    Workload(
        "cpu_ProcessPool_first", "ProcessPool", 64, 50.0, {"max_jobs": POOL_JOBS}, warm_up=False
    ),
]
BARE = {"count": 64, "ms": 50.0, "workers": POOL_JOBS}


def slurm_answers() -> bool:
    if shutil.which("sinfo") is None:
        return False
    done = subprocess.run(["sinfo", "-h", "-o", "%a"], capture_output=True, text=True, check=False)
    return done.returncode == 0 and "up" in done.stdout


def measure(sides: list[Any], tmp: str, repeat: int, slurm_jobs: int) -> None:
    """Best of ``repeat`` rounds for each workload; a round runs every workload once on
    each side, one after the other, so that the rows of a ratio are measured close in
    time (the machine is shared). The Slurm rows run once per side, after the rounds."""
    ours = sides[-1]
    _calibrate(ours)
    runs: dict[tuple[int, str], list[dict[str, Any]]] = {}
    bare: list[dict[str, Any]] = []
    for _ in range(repeat):
        done = ours.run_script(SCRIPT, "bare", BARE)  # the machine's parallelism, beside
        bare += [done] if done is not None else []
        for workload in WORKLOADS:
            for index, side in enumerate(sides):
                out = _run(side, workload, tmp)
                runs.setdefault((index, workload.metric), []).extend([out] if out else [])
    if bare:
        best = min(o["sequential"] for o in bare) / min(o["parallel"] for o in bare)
        ours.record("backend_bare", best)
    slurm = []
    if slurm_jobs and slurm_answers():
        fields = {"max_jobs": slurm_jobs}
        slurm = [Workload("slurm_100", "Slurm", 100, 0.0, fields),
                 Workload("slurm_100_first", "Slurm", 100, 0.0, fields, warm_up=False)]  # fmt: skip
    for workload in slurm:
        for index, side in enumerate(sides):
            out = _run(side, workload, tmp)
            runs[(index, workload.metric)] = [out] if out else []
    for workload in WORKLOADS + slurm:
        for index, side in enumerate(sides):
            _record(side, workload, runs.get((index, workload.metric), []))


def _calibrate(ours: Any) -> None:
    """Measure the CPU loop's pace once, in a child of ours: every child after (both
    sides) runs the same count of iterations per millisecond (see backend_workload)."""
    calibrated = ours.run_script(SCRIPT, "calibrate", {})
    if calibrated is not None:
        os.environ[LOOPS_ENV] = str(calibrated["loops_per_ms"])
        print(f"CPU work: {calibrated['loops_per_ms']} loop iterations per ms", flush=True)


def _run(side: Any, workload: Workload, tmp: str) -> dict[str, Any] | None:
    args = {"backend": workload.backend, "count": workload.count, "ms": workload.ms,
            "fields": workload.fields, "warm_up": workload.warm_up, "dir": tmp}  # fmt: skip
    return side.run_script(SCRIPT, "run_many", args)


def _record(side: Any, workload: Workload, outs: list[dict[str, Any]]) -> None:
    best = min(outs, key=lambda o: o["seconds"]) if outs else None
    bad = best and not best["correct"] and "wrong results"
    metric = f"backend_{workload.metric}"
    per = workload.count if workload.metric.startswith("trivial") else 1
    side.record(metric, best and best["seconds"] / per, bad)
    if workload.backend == "Slurm":
        side.record(f"{metric}_cpu", best and best["driver_cpu"] / workload.count, bad)


def rows(ref: Any, ours: Any, failed: list[str], slurm_jobs: int) -> list[str]:
    """Table rows (same columns as the Step table)."""
    lines = []
    labels = {"trivial": "1,000 trivial misses, per item", "cpu": "64 misses of 50 ms CPU, total"}
    for workload in WORKLOADS:
        kind = workload.metric.split("_")[0]
        unit = "ms" if kind == "trivial" else "s"
        loaded = "modules loaded" if workload.warm_up else _FIRST_RUN
        label = (
            f"`run_many` through `{workload.backend}`{_jobs(workload.fields)}: "
            f"{labels[kind]}, {loaded}"
        )
        lines.append(_row(ref, ours, f"backend_{workload.metric}", label, unit))
    lines.append(_speedup_row(ours, failed, ""))
    lines.append(_speedup_row(ours, failed, "_first"))
    if "backend_slurm_100" in ours.values or "backend_slurm_100" in ref.values:
        label = (
            f"`run_many` of 100 misses through `Slurm` (one array of {slurm_jobs} jobs), end "
            "to end, modules loaded (a warm-up job first)"
        )
        lines.append(_row(ref, ours, "backend_slurm_100", label, "s"))
        label = "the same: CPU time of the driver process per item (our overhead)"
        lines.append(_row(ref, ours, "backend_slurm_100_cpu", label, "ms"))
        label = f"the same, {_FIRST_RUN} and submitit: driver CPU per item"
        lines.append(_row(ref, ours, "backend_slurm_100_first_cpu", label, "ms"))
    return lines


_FIRST_RUN = "first run in a new process (includes loading numpy and the store)"


def _jobs(fields: dict[str, Any]) -> str:
    return f" (max_jobs={fields['max_jobs']})" if "max_jobs" in fields else ""


def _row(ref: Any, ours: Any, metric: str, label: str, unit: str) -> str:
    speed = ""
    if metric in ref.values and metric in ours.values:
        speed = f"{ref.values[metric] / ours.values[metric]:.1f}x"
    return f"| {label} | {ref.cell(metric, unit)} | {ours.cell(metric, unit)} | {speed} |  |  |"


def _speedup_row(ours: Any, failed: list[str], suffix: str) -> str:
    """``ProcessPool`` over ``Cached`` (ours); the target applies with modules loaded,
    the first-run ratio is shown beside it (both sides pay the same imports once)."""
    when = "first run in a new process" if suffix else "modules loaded"
    label = (
        f"`ProcessPool` (max_jobs={POOL_JOBS}) vs `Cached`, 64 misses of 50 ms CPU, {when} (ours)"
    )
    values = ours.values
    inline = values.get(f"backend_cpu_Cached{suffix}")
    pool = values.get(f"backend_cpu_ProcessPool{suffix}")
    goal = "" if suffix else f">= {SPEEDUP_TARGET}x"
    if inline is None or pool is None:
        if goal:
            failed.append(f"{label}: not measured")
        return f"| {label} |  | not measured |  | {goal} | {goal and 'not measured'} |"
    ratio = inline / pool
    verdict = ("PASS" if ratio >= SPEEDUP_TARGET else "**FAIL**") if goal else ""
    if "FAIL" in verdict:
        failed.append(label)
    bare = None if suffix else values.get("backend_bare")
    floor = "" if bare is None else f" (bare fork of {POOL_JOBS} processes, same work: {bare:.2f}x)"
    return f"| {label} |  | {ratio:.2f}x faster{floor} |  | {goal} | {verdict} |"
