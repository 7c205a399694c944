"""Whether a ``ProcessPool`` worker leaving the rest of its unit pays off (ours only).

Usage: ``.venv/bin/python benchmarks/pool_balance.py [--rounds N] [--items N] [--ms MS]``

Each round runs, one after another: ``run_many`` over fresh items of ``ms`` milliseconds
of CPU through ``Cached``; through ``ProcessPool(max_jobs=2)`` as it is (the last worker
still running leaves its rest to fresh workers once the others have ended); the same
with leaving switched off (equal shares to the end); and the same CPU work without exca
in one process and in two forked ones (the machine's parallelism at that moment).
Prints each round and the medians: the speed-ups over ``Cached`` of both pool variants
beside the bare fork's, and the time of the first variant over the second.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import backend_workload as bw

from exca.steps import _work


def _timed_run(backend: str, count: int, ms: float, **fields: object) -> float:
    folder = tempfile.mkdtemp(prefix="exca-bench-balance-")
    start = time.perf_counter()
    if not bw.run_misses(backend, count, ms, folder, **fields):
        raise RuntimeError(f"{backend} returned wrong results")
    return time.perf_counter() - start


def _bare_speed_up(total_ms: float, workers: int = 2) -> float:
    start = time.perf_counter()
    bw.spin(total_ms)
    sequential = time.perf_counter() - start
    start = time.perf_counter()
    bw.spin_in_forks(total_ms, workers)
    return sequential / (time.perf_counter() - start)


def _pool(count: int, ms: float, leave_rest: bool) -> float:
    saved = _work._LEAVE_MIN_S
    _work._LEAVE_MIN_S = saved if leave_rest else float("inf")  # (never worth leaving)
    try:
        return _timed_run("ProcessPool", count, ms, max_jobs=2)
    finally:
        _work._LEAVE_MIN_S = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--ms", type=float, default=50.0)
    args = parser.parse_args()
    print(f"CPU work: {bw.loops_per_ms()} loop iterations per ms")  # (calibrated first)
    _timed_run("Cached", 2, 0.0)  # (modules loaded first, on both paths)
    _timed_run("ProcessPool", 2, 0.0, max_jobs=2)
    print(time.strftime("%H:%M:%S UTC", time.gmtime()), "load", os.getloadavg()[0])
    rows: dict[str, list[float]] = {
        "leaving": [],
        "equal shares": [],
        "bare fork": [],
        "time ratio": [],
    }
    for _ in range(args.rounds):
        inline = _timed_run("Cached", args.items, args.ms)
        leaving = _pool(args.items, args.ms, leave_rest=True)
        equal = _pool(args.items, args.ms, leave_rest=False)
        bare = _bare_speed_up(args.items * args.ms)
        rows["leaving"].append(inline / leaving)
        rows["equal shares"].append(inline / equal)
        rows["bare fork"].append(bare)
        rows["time ratio"].append(leaving / equal)
        print(f"  inline {inline * 1e3:.0f} ms; leaving {inline / leaving:.2f}x, equal shares "
              f"{inline / equal:.2f}x, bare fork {bare:.2f}x")  # fmt: skip
    for name, values in rows.items():
        print(
            f"{name}: median {statistics.median(values):.3f} (min {min(values):.3f}, max {max(values):.3f})"
        )
    print(time.strftime("%H:%M:%S UTC", time.gmtime()), "load", os.getloadavg()[0])


if __name__ == "__main__":
    main()
