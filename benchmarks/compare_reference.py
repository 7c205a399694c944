"""Run the Step workload under exca 0.6.0 and under this exca, and print both side by side.

Usage: ``.venv/bin/python benchmarks/compare_reference.py [--ref-python PATH] [--quick]``

The workload (``step_workload.py``) is written once against the public Step API and runs
in child processes of each interpreter: the reference virtualenv (``/tmp/ref``, created
with ``python3 -m venv /tmp/ref && /tmp/ref/bin/pip install exca==0.6.0`` when missing)
and this repository's ``.venv``. Measurements alternate between the two. A side that
cannot run a workload is reported as such, with its error; no number is made up.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

import _backend_rows
from _child import ChildError, run_child
from _fixtures import REPO, fixture_root, source_digest, source_state

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "step_workload.py")
REF, OURS = "exca 0.6.0", "ours"
FLAT_LIMIT = 1.5  # "flat": per-item cost at 100k entries within 1.5x of that at 1k
HIT_ITEMS = 10_000  # run_many over this many cached items (stores of 10k items and more)
FLAT_ITEMS = 1_000  # and over this many at every store size, for the flatness check


class Side:
    """One interpreter: its measurements, or the error that stopped each of them."""

    def __init__(self, name: str, python: str, tag: str) -> None:
        self.name, self.python, self.tag = name, python, tag
        self.values: dict[str, float] = {}
        self.errors: dict[str, str] = {}
        self.broken: str | None = None  # set when even ``import exca.steps`` fails

    def run(self, task: str, args: dict[str, Any]) -> dict[str, Any] | None:
        return self.run_script(SCRIPT, task, args)

    def run_script(self, script: str, task: str, args: dict[str, Any]) -> dict[str, Any] | None:
        if self.broken:
            return None
        try:
            return run_child(script, task, args, python=self.python)
        except ChildError as err:
            last = str(err).strip().splitlines()[-1]
            self.errors[task] = last
            if task == "import":
                self.broken = last
            return None

    def record(self, metric: str, value: float | None, invalid: str | None = None) -> None:
        if invalid:
            self.errors[metric] = invalid
        elif value is not None:
            self.values[metric] = value

    def cell(self, metric: str, unit: str) -> str:
        if metric in self.values:
            return _fmt(self.values[metric], unit)
        if self.broken:
            return f"not runnable ({self.broken[:90]})"
        return f"failed ({self.errors.get(metric, 'see stderr')[:90]})"


def _fmt(seconds: float, unit: str) -> str:
    scale = {"s": 1, "ms": 1e3, "µs": 1e6}[unit]
    return f"{seconds * scale:.3g} {unit}"


def ensure_reference(python: str) -> None:
    if os.path.exists(python):
        return
    venv = os.path.dirname(os.path.dirname(python))
    print(f"creating the reference virtualenv {venv} (exca==0.6.0)...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "exca==0.6.0"], check=True)


def store_fixture(side: Side, n: int) -> str | None:
    """Folder of a step store holding ``n`` cached items for ``side``, built once."""
    final = fixture_root() / f"steps-{side.tag}-{n}"
    if (final / "READY").exists():
        return str(final / "store")
    if side.broken:
        return None
    for stale in fixture_root().glob(f"steps-{side.tag.split('-')[0]}-*-{n}"):
        shutil.rmtree(stale, ignore_errors=True)
    fixture_root().mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".build-steps-{side.tag}-{n}-", dir=fixture_root())
    out = side.run("fill", {"folder": os.path.join(tmp, "store"), "n": n})
    if out is None or not out["served_from_cache"]:
        side.errors[f"fill-{n}"] = "items written through lookup().cache_dict were not served"
        shutil.rmtree(tmp, ignore_errors=True)
        return None
    with open(os.path.join(tmp, "READY"), "w") as handle:
        handle.write(f"{n} items\n")
    try:
        os.rename(tmp, final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(final / "store")


def _best(side: Side, task: str, args: dict[str, Any], repeat: int) -> dict[str, Any] | None:
    outs = [side.run(task, args) for _ in range(repeat)]
    done = [o for o in outs if o is not None]
    return min(done, key=lambda o: o["seconds"]) if done else None


def measure(sides: list[Side], sizes: list[int], misses: list[int], repeat: int, tmp: str) -> None:
    for side in sides:
        out = _best(side, "import", {}, repeat)
        side.record("import", out and out["seconds"])
        if out:
            print(f"{side.name}: exca {out['version']} from {out['file']}", file=sys.stderr)
    for side in sides:
        out = side.run("run_hit", {"calls": 2000, "rounds": repeat, "dir": tmp})
        bad = out and out["computed"] and f"recomputed {out['computed']} hits"
        side.record("hit_same", out and out["same_instance"], bad)
        side.record("hit_new", out and out["new_instance"], bad)
        # a miss is mostly a file creation, whose cost swings from one moment to the next:
        # more rounds than the other rows (the same for both sides)
        out = side.run("run_miss", {"calls": 100, "rounds": 4 * repeat, "dir": tmp})
        side.record("miss", out and out["per_call"])
    for n in misses:
        for side in sides:
            out = side.run("run_many", {"count": n, "dir": tmp})
            bad = out and not out["correct"] and "wrong results"
            side.record(f"many_miss_{n}", out and out["seconds"] / n, bad)
    for n in sizes:
        for side in sides:
            store = store_fixture(side, n)
            if store is not None:
                _cached_runs(side, store, n, repeat, tmp)


def _cached_runs(side: Side, store: str, n: int, repeat: int, tmp: str) -> None:
    """Hits from new processes in a store of ``n`` items: ``run_many`` over 10,000 items
    (stores of 10k and more) with and without a warm-up run on another store (which loads
    the modules a run needs: one-time process costs), over 1,000 items after a warm-up
    (the flatness check), and one ``run``."""
    runs = []
    if n >= HIT_ITEMS:
        runs += [(f"many_hit_{n}", HIT_ITEMS, False), (f"many_hit_loaded_{n}", HIT_ITEMS, True)]
    runs.append((f"many_hit_warm_{n}", FLAT_ITEMS, True))
    for metric, count, warm_up in runs:
        args = {"folder": store, "count": count, "warm_up": warm_up, "dir": tmp}
        out = _best(side, "run_many", args, repeat)
        bad = (
            out
            and (out["computed"] or not out["correct"])
            and (f"recomputed {out['computed']} of {count} cached items")
        )
        side.record(metric, out and out["seconds"] / count, bad)  # fmt: skip
    for task in ("first_hit", "cold_start") if n == HIT_ITEMS else ("first_hit",):
        out = _best(side, task, {"folder": store, "item": n // 2}, repeat)
        bad = out and (out["computed"] or not out["correct"]) and "recomputed a cached item"
        side.record(f"{task}_{n}", out and out["seconds"], bad)


def _speedup(ref: Side, ours: Side, metric: str) -> float | None:
    if metric in ref.values and metric in ours.values:
        return ref.values[metric] / ours.values[metric]
    return None


def table(ref: Side, ours: Side, sizes: list[int], misses: list[int]) -> tuple[str, list[str]]:
    """The Step rows with the performance issue's targets (speed-ups over exca 0.6.0; the
    steps issue asked for less: a new-instance hit and a miss >= 10x, a same-instance hit no
    slower), and the steps issue's import bound."""
    rows: list[tuple[str, str, str, float | None]] = [
        ("`import exca.steps` (fresh process)", "import", "ms", None),
        ("`run(x)` cache hit, same step instance", "hit_same", "µs", 3.0),
        ("`run(x)` cache hit, new step instance", "hit_new", "ms", 30.0),
        ("`run(x)` miss, trivial compute", "miss", "ms", 20.0),
    ]
    rows += [(f"`run_many` over {n:,} misses (compute-once claims on), per item",
              f"many_miss_{n}", "ms",
              50.0 if n == 10_000 else None) for n in misses]  # fmt: skip
    rows += [(f"`run_many` over {HIT_ITEMS:,} cached items, new process, its modules loaded "
              f"(warm-up run on another folder), store of {n:,}, per item",
              f"many_hit_loaded_{n}", "µs", 3.0 if n == HIT_ITEMS else None)
             for n in sizes if n >= HIT_ITEMS]  # fmt: skip
    rows += [(f"`run_many` over {HIT_ITEMS:,} cached items, new process, first run there "
              f"(includes loading numpy and exca.store), store of {n:,}, per item",
              f"many_hit_{n}", "µs", None) for n in sizes if n >= HIT_ITEMS]  # fmt: skip
    rows += [(f"`run_many` over {FLAT_ITEMS:,} cached items, new process after a warm-up "
              f"run elsewhere, store of {n:,}, per item", f"many_hit_warm_{n}", "µs", None)
             for n in sizes]  # fmt: skip
    rows += [(f"first hit in a new process, store of {n:,}", f"first_hit_{n}", "ms", None)
             for n in sizes]  # fmt: skip
    if HIT_ITEMS in sizes:  # (measured with that store only; not in --backends-only runs)
        rows.append((f"cold start: `import exca.steps`, define the step, first hit (store of "
                     f"{HIT_ITEMS:,})", f"cold_start_{HIT_ITEMS}", "ms", None))  # fmt: skip
    lines = ["| workload | exca 0.6.0 | ours | speed-up | target | result |", "|---" * 6 + "|"]
    failed = []
    for label, metric, unit, target in rows:
        speedup = _speedup(ref, ours, metric)
        goal, verdict = "", ""
        if metric == "import":
            goal = "ours <= 120 ms"
            if metric in ours.values:
                verdict = "PASS" if ours.values[metric] <= 0.120 else "**FAIL**"
        elif target is not None:
            goal = f">= {target:g}x"
            verdict = "" if speedup is None else ("PASS" if speedup >= target else "**FAIL**")
        if goal and not verdict:
            verdict = "not measured"
        if "FAIL" in verdict or verdict == "not measured":
            failed.append(f"{label}: {verdict.strip('*')}")
        spd = f"{speedup:.1f}x" if speedup is not None else ""
        lines.append(f"| {label} | {ref.cell(metric, unit)} | {ours.cell(metric, unit)} | "
                     f"{spd} | {goal} | {verdict} |")  # fmt: skip
    if 1_000 in sizes and 100_000 in sizes:
        lines.append(_flat_row(ours, failed))
    return "\n".join(lines), failed


def _flat_row(ours: Side, failed: list[str]) -> str:
    label = "`run_many` cached after warm-up: per-item cost at 100k vs 1k entries (ours)"
    small, large = ours.values.get("many_hit_warm_1000"), ours.values.get("many_hit_warm_100000")
    if small is None or large is None:
        failed.append(f"{label}: not measured")
        return f"| {label} |  | not measured |  | flat (<= {FLAT_LIMIT}x) | not measured |"
    growth = large / small
    verdict = "PASS" if growth <= FLAT_LIMIT else "**FAIL**"
    if "FAIL" in verdict:
        failed.append(label)
    return f"| {label} |  | {growth:.2f}x |  | flat (<= {FLAT_LIMIT}x) | {verdict} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref-python", default="/tmp/ref/bin/python")
    parser.add_argument("--ours-python", default=str(REPO / ".venv" / "bin" / "python"))
    parser.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    parser.add_argument("--quick", action="store_true", help="1k/10k entries, 1k misses only")
    parser.add_argument("--backends-only", action="store_true", help="only the backend rows")
    parser.add_argument(
        "--slurm-jobs", type=int, default=10, help="jobs of the Slurm row's array (0: no row)"
    )
    args = parser.parse_args()
    ensure_reference(args.ref_python)
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    misses = [1_000] if args.quick else [1_000, 10_000]
    if args.backends_only:
        sizes, misses = [], []
    ours_tag = "ours-" + source_digest(REPO / "src" / "exca", salt="steps-1")
    ref = Side(REF, args.ref_python, "ref-0.6.0")
    ours = Side(OURS, args.ours_python, ours_tag)
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    with tempfile.TemporaryDirectory(prefix="exca-compare-") as tmp:
        measure([ref, ours], sizes, misses, args.repeat, tmp)
        _backend_rows.measure([ref, ours], tmp, args.repeat, args.slurm_jobs)
    text, failed = table(ref, ours, sizes, misses)
    text += "\n" + "\n".join(_backend_rows.rows(ref, ours, failed, args.slurm_jobs))
    print(f"Step workload, exca 0.6.0 vs ours, {started}, best of {args.repeat}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; ours at "
          f"{source_state()}\n")  # fmt: skip
    print(text)
    print(f"\n{len(failed)} target(s) not met" + (": " + "; ".join(failed) if failed else ""))


if __name__ == "__main__":
    main()
