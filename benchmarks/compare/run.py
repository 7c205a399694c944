"""The side-by-side comparison: every workload against every peer, one run, one command.

Usage: ``make compare`` (= ``.venv/bin/python benchmarks/compare/run.py``), options below.
Each figure is the median of ``--reps`` repetitions with its spread; within a repetition
the sides run one after another in a rotating order (interleaved), each in a fresh child
process; ratios are taken between medians of the same run. Results go to
``benchmarks/compare/results.json``, the table and plots into ``docs/benchmarks.md``
(between its ``compare`` markers) and ``docs/img/`` (``--out`` elsewhere).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _child import ChildError, run_child  # noqa: E402
from _fixtures import REPO, source_digest, source_state  # noqa: E402

PEERS = HERE / "peers.py"
STEPS = HERE / "step_arrays.py"
STORE_LIBS = ["exca", "joblib", "diskcache"]
ARRAY_LIBS = [*STORE_LIBS, "numpy", "raw"]
FRESH_S = 2.5  # lookups start this long after their store was written (see measure_entries)


class Run:
    """Everything measured in one run: samples by metric and side, errors, settings."""

    def __init__(self, args: argparse.Namespace, tmp: str) -> None:
        self.args, self.tmp = args, tmp
        self.samples: dict[str, dict[str, list[float]]] = {}
        self.errors: dict[str, str] = {}
        self.notes: list[str] = []

    def add(self, metric: str, side: str, value: float | None) -> None:
        if value is not None:
            self.samples.setdefault(metric, {}).setdefault(side, []).append(value)

    def child(self, script: Path, task: str, args: dict[str, Any], python: str,
              drop: list[str] | None = None, fills: bool = False) -> dict[str, Any] | None:  # fmt: skip
        try:
            out = run_child(str(script), task, args, python=python, drop_cache_of=drop)
        except ChildError as err:
            self.errors[f"{script.name} {task} {args.get('lib', python)}"] = str(err)[-300:]
            return None
        if (out.get("computed") and not fills) or out.get("correct") is False:
            self.errors[f"{task} {args}"] = f"wrong or recomputed results: {out}"
            return None
        return out

    def folder(self, *parts: object) -> str:
        path = os.path.join(self.tmp, "-".join(map(str, parts)))
        os.makedirs(path, exist_ok=True)
        return path


def rotated(items: list[str], rep: int) -> list[str]:
    shift = rep % len(items)
    return items[shift:] + items[:shift]


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


# ------------------------------------------------------------------------ sections
def measure_startup(run: Run) -> None:
    """``import exca.steps`` from interpreter start to exit, beside the pydantic floor."""
    sides = {"ours": [run.args.ours_python, "-c", "import exca.steps"],
             "floor": [run.args.ours_python, "-c", "from pydantic import BaseModel"],
             "python": [run.args.ours_python, "-c", "pass"]}  # fmt: skip
    if run.args.ref_python:
        sides["exca 0.6.0"] = [run.args.ref_python, "-c", "import exca.steps"]
    for rep in range(run.args.reps + 1):  # (the first round warms the file caches: dropped)
        for side in rotated(list(sides), rep):
            seconds = wall(sides[side])
            if rep:
                run.add("import", side, seconds)


def measure_arrays(run: Run) -> None:
    """Write, open and read through one array per size, every library in turn."""
    for mib in run.args.array_mib:
        rounds = max(2, min(20, int(64 / mib)))
        stored: dict[str, str] = {}
        for rep in range(run.args.reps):
            for lib in rotated(ARRAY_LIBS, rep):
                folder = run.folder("arr", mib, lib, rep)
                args = {"lib": lib, "folder": folder, "mib": mib, "rounds": rounds}
                out = run.child(PEERS, "array_write", args, run.args.ours_python)
                # best of the rounds: a write can stall behind another process's dirty
                # pages being written back (this machine is shared); median over repetitions
                run.add(f"array_write_{mib}", lib, out and out["best"])
                if out and lib not in stored:
                    stored[lib] = folder  # read below
                else:
                    shutil.rmtree(folder, ignore_errors=True)  # (disk: 1 GiB arrays)
        for rep in range(run.args.reps):
            for lib in rotated([lib for lib in ARRAY_LIBS if lib in stored], rep):
                _array_reads(run, lib, stored[lib], mib)
        for folder in stored.values():
            shutil.rmtree(folder, ignore_errors=True)


def _array_reads(run: Run, lib: str, folder: str, mib: float) -> None:
    """Open (fresh process), read through warm, and cold (page cache dropped first)."""
    read = {"lib": lib, "folder": folder, "mib": mib, "key": "a0"}
    kinds = [("open", False, None), ("read", True, None)]
    if run.args.cold:
        kinds.append(("cold", True, [folder]))
    for kind, full, drop in kinds:
        out = run.child(PEERS, "array_read", {**read, "full": full}, run.args.ours_python, drop)
        run.add(f"array_{kind}_{mib}", lib, out and out["seconds"])
        if out and out.get("drop_method"):
            run.notes.append(f"cold reads: page cache dropped by {out['drop_method']}")


def measure_entries(run: Run) -> None:
    """Small entries: bulk write, then lookups from a fresh process; single writes."""
    for n in run.args.entries:
        libs = [lib for lib in STORE_LIBS if lib != "joblib" or n <= run.args.joblib_max]
        for rep in range(run.args.reps):
            folders = {lib: run.folder("small", n, lib, rep) for lib in libs}
            for lib in rotated(libs, rep):
                out = run.child(PEERS, "fill", {"lib": lib, "folder": folders[lib], "n": n},
                                run.args.ours_python)  # fmt: skip
                run.add(f"small_write_{n}", lib, out and out["seconds"])
            written = time.monotonic()
            # exca re-lists a packs folder changed in the last 2 s (other hosts' packs on
            # coarse-timestamp file systems): lookups start after that, as in a later reader
            time.sleep(max(0.0, written + FRESH_S - time.monotonic()))
            for lib in rotated(libs, rep):
                args = {"lib": lib, "folder": folders[lib], "n": n, "sample": min(n, 1000)}
                out = run.child(PEERS, "lookups", args, run.args.ours_python)
                for key in ("first", "hit", "miss", "bulk"):
                    run.add(f"small_{key}_{n}", lib, out and out[key])
                shutil.rmtree(folders[lib], ignore_errors=True)
    n = run.args.single_writes
    for rep in range(run.args.reps):
        for lib in rotated(STORE_LIBS, rep):
            args = {"lib": lib, "folder": run.folder("single", lib, rep), "n": n, "single": True}
            out = run.child(PEERS, "fill", args, run.args.ours_python)
            run.add("single_write", lib, out and out["seconds"] / n)


def _step_sides(run: Run) -> dict[str, str]:
    sides = {"ours": run.args.ours_python}
    if run.args.ref_python:
        sides["exca 0.6.0"] = run.args.ref_python
    return sides


def measure_step_arrays(run: Run) -> None:
    """``run_many`` over cached arrays (same instance, new instance, first in a fresh
    process), the user's whole script beside its floor, and memory while reading."""
    count, mib = run.args.many_arrays
    sides = _step_sides(run)
    folders = {side: run.folder("steparr", side) for side in sides}
    for side, python in sides.items():
        run.child(
            STEPS, "fill", {"folder": folders[side], "count": count, "mib": mib}, python, fills=True
        )
    floor = run.folder("steparr-floor")
    _numpy_files(run, floor, count, mib)
    for rep in range(run.args.reps):
        for side in rotated(list(sides), rep):
            for mode in ("same", "new", "first"):
                args = {"folder": folders[side], "count": count, "mib": mib, "mode": mode,
                        "rounds": 5}  # fmt: skip
                out = run.child(STEPS, "read", args, sides[side])
                run.add(f"many_arrays_{mode}", side, out and out["best"])
        for side in rotated([*sides, "floor"], rep):
            python = sides.get(side, run.args.ours_python)
            script = _script(side)
            folder = floors_or(folders, side, floor)
            run.add("many_arrays_script", side,
                    wall([python, "-c", script, folder, str(mib), str(count)]))  # fmt: skip
    _open_large(run, sides)
    _memory(run, sides)
    _small_script(run, sides)


def _small_script(run: Run, sides: dict[str, str]) -> None:
    """A user's whole script: import exca, define a step, read 10,000 cached results."""
    from compare_reference import Side, store_fixture
    from step_arrays import SMALL_SCRIPT

    count = run.args.script_items
    stores = {}
    for side, python in sides.items():
        tag = "ref-0.6.0" if side != "ours" else "ours-" + source_digest(
            REPO / "src" / "exca", salt="steps-1")  # fmt: skip
        stores[side] = store_fixture(Side(side, python, tag), count)
    for rep in range(run.args.reps):
        for side in rotated([s for s in sides if stores[s]], rep):
            argv = [sides[side], "-c", SMALL_SCRIPT, str(stores[side]), str(count)]
            run.add("small_script", side, wall(argv))


def _open_large(run: Run, sides: dict[str, str]) -> None:
    """One large cached array opened through a new step instance in a fresh process,
    beside ``np.load(mmap_mode="r")`` of the same bytes in a fresh process."""
    mib = run.args.open_mib
    folders = {side: run.folder("open", side) for side in sides}
    for side, python in sides.items():
        run.child(STEPS, "fill", {"folder": folders[side], "count": 1, "mib": mib}, python,
                  fills=True)  # fmt: skip
    floor = run.folder("open-floor")
    import numpy as np

    np.save(os.path.join(floor, "a0.npy"), np.zeros(int(mib * (1 << 18)), dtype=np.float32))
    for rep in range(run.args.reps):
        for side in rotated([*sides, "floor"], rep):
            if side == "floor":
                args = {"lib": "numpy", "folder": floor, "mib": mib, "key": "a0", "full": False}
                out = run.child(PEERS, "array_read", args, run.args.ours_python)
            else:
                args = {"folder": folders[side], "count": 1, "mib": mib, "mode": "first",
                        "warm_up": True}  # fmt: skip
                out = run.child(STEPS, "read", args, sides[side])
            run.add("open_step", side, out and out["seconds"])
    for folder in (*folders.values(), floor):
        shutil.rmtree(folder, ignore_errors=True)


def floors_or(folders: dict[str, str], side: str, floor: str) -> str:
    return folders.get(side, floor)


def _script(side: str) -> str:
    from step_arrays import FLOOR_SCRIPT, SCRIPT

    return FLOOR_SCRIPT if side == "floor" else SCRIPT


def _numpy_files(run: Run, folder: str, count: int, mib: float) -> None:
    import numpy as np

    for i in range(count):
        np.save(os.path.join(folder, f"{i}.npy"),
                np.full(int(mib * (1 << 18)), float(i), dtype=np.float32))  # fmt: skip


def _memory(run: Run, sides: dict[str, str]) -> None:
    count, mib = run.args.memory_arrays
    for side, python in sides.items():
        folder = run.folder("memory", side)
        fill = {"folder": folder, "count": count, "mib": mib}
        if run.child(STEPS, "fill", fill, python, fills=True):
            for keep in (False, True):
                args = {"folder": folder, "count": count, "mib": mib, "keep_in_ram": keep}
                out = run.child(STEPS, "memory", args, python)
                run.add(f"memory_peak_{keep}", side, out and out["peak_growth"])
                run.add(f"memory_end_{keep}", side, out and out["end_growth"])
        shutil.rmtree(folder, ignore_errors=True)


SECTIONS: dict[str, Callable[[Run], None]] = {
    "startup": measure_startup,
    "arrays": measure_arrays,
    "entries": measure_entries,
    "step-arrays": measure_step_arrays,
}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions per figure (5)")
    parser.add_argument(
        "--ref-python",
        default=str(REPO / ".venv-ref" / "bin" / "python"),
        help="exca 0.6.0's interpreter (created when missing); '' for none",
    )
    parser.add_argument("--ours-python", default=sys.executable)
    parser.add_argument("--sections", nargs="+", default=[*SECTIONS, "steps"],
                        choices=[*SECTIONS, "steps"])  # fmt: skip
    parser.add_argument("--array-mib", type=float, nargs="+", default=[1, 16, 256])
    parser.add_argument("--entries", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument(
        "--joblib-max",
        type=int,
        default=10_000,
        help="largest store joblib.Memory is run at (two files per entry)",
    )
    parser.add_argument("--single-writes", type=int, default=1000)
    parser.add_argument("--many-arrays", type=float, nargs=2, default=[200, 1],
                        metavar=("COUNT", "MIB"))  # fmt: skip
    parser.add_argument("--memory-arrays", type=float, nargs=2, default=[100, 64],
                        metavar=("COUNT", "MIB"))  # fmt: skip
    parser.add_argument("--open-mib", type=float, default=256)
    parser.add_argument("--script-items", type=int, default=10_000)
    parser.add_argument("--no-cold", dest="cold", action="store_false")
    parser.add_argument("--steps-quick", action="store_true",
                        help="Step rows at 1k/10k entries only, 1,000 misses (compare_reference "
                        "--quick: exca 0.6.0 takes many minutes over 10,000 misses)")  # fmt: skip
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, 1 repetition, no reference: checks the machinery",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="write the table and plots here instead of docs/"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.reps, args.array_mib, args.entries, args.single_writes = 1, [0.25], [200], 20
        args.many_arrays, args.memory_arrays, args.ref_python = [5, 0.25], [3, 1], ""
        args.open_mib, args.script_items = 1, 50
        args.sections = [s for s in args.sections if s != "steps"]
    args.many_arrays = [int(args.many_arrays[0]), args.many_arrays[1]]
    args.memory_arrays = [int(args.memory_arrays[0]), args.memory_arrays[1]]
    return args


def ensure_reference(python: str) -> None:
    if not python or os.path.exists(python):
        return
    venv = os.path.dirname(os.path.dirname(python))
    print(f"creating the reference virtualenv {venv} (exca==0.6.0)...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "exca==0.6.0"], check=True)


def compile_sources() -> None:
    """Byte-compile exca's sources first, as an installed package is (exca 0.6.0 from
    PyPI, numpy, pydantic): under ``PYTHONDONTWRITEBYTECODE=1`` every child would
    otherwise compile exca's modules again, which its peers never do."""
    import compileall

    compileall.compile_dir(str(REPO / "src" / "exca"), quiet=1)


def main(argv: list[str] | None = None) -> None:
    from report import write_report

    args = parse(argv)
    ensure_reference(args.ref_python)
    compile_sources()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="exca-compare-") as tmp:
        run = Run(args, tmp)
        for name in args.sections:
            print(f"[{time.strftime('%H:%M:%S')}] {name}...", file=sys.stderr)
            if name == "steps":
                run.notes.append(_steps_table(args))
            else:
                SECTIONS[name](run)
    header = {"started": started, "state": source_state(), "cores": os.cpu_count(),
              "load": os.getloadavg()[0], "reps": args.reps}  # fmt: skip
    write_report(run, header, args.out)


def _steps_table(args: argparse.Namespace) -> str:
    """The Step rows of ``compare_reference.py`` (hits, misses, run_many, first hits)."""
    if not args.ref_python:
        return (
            "Step rows with small values skipped: they compare against exca 0.6.0 (no --ref-python)"
        )
    argv = [args.ours_python, str(HERE.parent / "compare_reference.py"),
            "--repeat", str(max(3, args.reps)), "--ref-python", args.ref_python]  # fmt: skip
    argv += ["--quick"] if args.steps_quick else []
    done = subprocess.run(argv, capture_output=True, text=True)
    return (
        done.stdout if done.returncode == 0 else f"compare_reference failed: {done.stderr[-500:]}"
    )


if __name__ == "__main__":
    main()
