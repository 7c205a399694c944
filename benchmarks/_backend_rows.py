"""Backend rows of :mod:`compare_reference`: pools over trivial and CPU-bound misses, and a
Slurm job array end to end, for both sides, with the pool speed-up target checked."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "backend_workload.py")
POOL_JOBS = 2  # workers of the pools (the machine's cores here)
SPEEDUP_TARGET = 1.8  # ProcessPool over inline, 64 items of 50 ms of CPU, ours
WORKLOADS = [  # (metric, backend, items, ms of CPU per item, backend fields)
    ("trivial_Cached", "Cached", 1000, 0.0, {}),
    ("trivial_ThreadPool", "ThreadPool", 1000, 0.0, {"max_jobs": POOL_JOBS}),
    ("trivial_ProcessPool", "ProcessPool", 1000, 0.0, {"max_jobs": POOL_JOBS}),
    ("cpu_Cached", "Cached", 64, 50.0, {}),
    ("cpu_ThreadPool", "ThreadPool", 64, 50.0, {"max_jobs": POOL_JOBS}),
    ("cpu_ProcessPool", "ProcessPool", 64, 50.0, {"max_jobs": POOL_JOBS}),
]


def slurm_answers() -> bool:
    if shutil.which("sinfo") is None:
        return False
    done = subprocess.run(["sinfo", "-h", "-o", "%a"], capture_output=True, text=True, check=False)
    return done.returncode == 0 and "up" in done.stdout


def measure(sides: list[Any], tmp: str, repeat: int, slurm_jobs: int) -> None:
    """Best of ``repeat`` for each workload, the two sides alternating."""
    ours = sides[-1]
    bare = [ours.run_script(SCRIPT, "bare", {"count": 64, "ms": 50.0, "workers": POOL_JOBS})]
    done = [o for o in bare if o is not None]
    if done:  # the machine's parallelism, measured beside the pool rows
        ours.record("backend_bare", done[0]["sequential"] / done[0]["parallel"])
    workloads = list(WORKLOADS)
    if slurm_jobs and slurm_answers():
        workloads.append(("slurm_100", "Slurm", 100, 0.0, {"max_jobs": slurm_jobs}))
    for metric, backend, count, ms, fields in workloads:
        runs = 1 if backend == "Slurm" else repeat
        for side in sides:
            args = {"backend": backend, "count": count, "ms": ms, "fields": fields, "dir": tmp}
            outs = [side.run_script(SCRIPT, "run_many", args) for _ in range(runs)]
            done = [o for o in outs if o is not None]
            best = min(done, key=lambda o: o["seconds"]) if done else None
            bad = best and not best["correct"] and "wrong results"
            per = count if metric.startswith("trivial") else 1
            side.record(f"backend_{metric}", best and best["seconds"] / per, bad)
            if metric.startswith("slurm"):
                side.record(f"backend_{metric}_cpu", best and best["driver_cpu"] / count, bad)


def rows(ref: Any, ours: Any, failed: list[str], slurm_jobs: int) -> list[str]:
    """Table rows (same columns as the Step table)."""
    lines = []
    labels = {"trivial": "1,000 trivial misses, per item", "cpu": "64 misses of 50 ms CPU, total"}
    for metric, backend, _, _, fields in WORKLOADS:
        kind = metric.split("_")[0]
        unit = "ms" if kind == "trivial" else "s"
        label = f"`run_many` through `{backend}`{_jobs(fields)}: {labels[kind]}"
        lines.append(_row(ref, ours, f"backend_{metric}", label, unit))
    lines.append(_speedup_row(ours, failed))
    if "backend_slurm_100" in ours.values or "backend_slurm_100" in ref.values:
        label = (
            f"`run_many` of 100 misses through `Slurm` (one array of {slurm_jobs} jobs), end to end"
        )
        lines.append(_row(ref, ours, "backend_slurm_100", label, "s"))
        label = "the same: CPU time of the driver process per item (our overhead)"
        lines.append(_row(ref, ours, "backend_slurm_100_cpu", label, "ms"))
    return lines


def _jobs(fields: dict[str, Any]) -> str:
    return f" (max_jobs={fields['max_jobs']})" if "max_jobs" in fields else ""


def _row(ref: Any, ours: Any, metric: str, label: str, unit: str) -> str:
    speed = ""
    if metric in ref.values and metric in ours.values:
        speed = f"{ref.values[metric] / ours.values[metric]:.1f}x"
    return f"| {label} | {ref.cell(metric, unit)} | {ours.cell(metric, unit)} | {speed} |  |  |"


def _speedup_row(ours: Any, failed: list[str]) -> str:
    label = f"`ProcessPool` (max_jobs={POOL_JOBS}) vs `Cached`, 64 misses of 50 ms CPU (ours)"
    inline, pool = ours.values.get("backend_cpu_Cached"), ours.values.get("backend_cpu_ProcessPool")
    goal = f">= {SPEEDUP_TARGET}x"
    if inline is None or pool is None:
        failed.append(f"{label}: not measured")
        return f"| {label} |  | not measured |  | {goal} | not measured |"
    ratio = inline / pool
    verdict = "PASS" if ratio >= SPEEDUP_TARGET else "**FAIL**"
    if "FAIL" in verdict:
        failed.append(label)
    bare = ours.values.get("backend_bare")
    floor = "" if bare is None else f" (bare fork of {POOL_JOBS} processes, same work: {bare:.2f}x)"
    return f"| {label} |  | {ratio:.2f}x faster{floor} |  | {goal} | {verdict} |"
