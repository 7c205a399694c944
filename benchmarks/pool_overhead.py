"""Where a ``ProcessPool`` run goes, in one process with its modules loaded (ours only).

Usage: ``.venv/bin/python benchmarks/pool_overhead.py [--rounds N]``

* ``fixed``: a dispatch of 64 trivial items through ``ProcessPool(max_jobs=2)``: the
  fixed cost of a pool run (claims, forks, each worker opening the store, the flush, the
  driver's read back), and the driver's CPU for it.
* ``cpu``: 64 items of 50 ms of CPU through ``Cached``, ``ProcessPool(max_jobs=2)`` and
  ``ProcessPool`` with the default ``max_jobs`` (one process per item), beside the same
  work done without exca in one process and in 2 forked ones (the machine's parallelism
  at that moment); rounds interleave them, best and median of the rounds.
* ``heap``: 8 items of a step that allocates containers (so that the collector runs in
  the worker), from a driver holding 300,000 dicts: with the driver's objects frozen
  while the workers fork (what ``ProcessPool`` does) and without (the freeze replaced
  by a no-op here, to show what it saves), and inline.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import backend_workload as bw

from exca.steps import Step
from exca.steps.backends import pools


class Allocate(Step):
    """``x`` after building 200,000 one-item lists (container allocations: the gc runs)."""

    def _run(self, x: int) -> int:
        junk = [[i] for i in range(200_000)]
        return x + len(junk) - 200_000


def _folder() -> str:
    return tempfile.mkdtemp(prefix="exca-bench-pool-")


def _pool_run(count: int, ms: float, **fields: int) -> Callable[[], None]:
    return lambda: _check(bw.run_misses("ProcessPool", count, ms, _folder(), **fields))


def _check(correct: bool) -> None:
    if not correct:
        raise RuntimeError("wrong results")


def _allocate(backend: str, frozen: bool = True) -> Callable[[], None]:
    def run() -> None:
        real = pools._heap_frozen
        if not frozen:
            pools._heap_frozen = contextlib.nullcontext  # type: ignore[assignment]
        try:
            fields = {"max_jobs": 2} if backend == "ProcessPool" else {}
            step = Allocate(infra={"backend": backend, "folder": _folder(), **fields})
            _check(list(step.run_many(list(range(8)))) == list(range(8)))
        finally:
            pools._heap_frozen = real

    return run


def _rounds(cases: dict[str, Callable[[], None]], rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, case in cases.items():
            start = time.perf_counter()
            case()
            times[name].append(time.perf_counter() - start)
    return times


def _show(title: str, times: dict[str, list[float]], unit: str = "s") -> None:
    scale = 1e3 if unit == "ms" else 1.0
    print(f"\n{title}")
    for name, values in times.items():
        best, median = min(values) * scale, statistics.median(values) * scale
        print(f"  {name:32s} best {best:8.3f} {unit}   median {median:8.3f} {unit}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    _check(bw.run_misses("Cached", 2, 0.0, _folder()))  # the modules a run needs, loaded
    _check(bw.run_misses("ProcessPool", 2, 0.0, _folder(), max_jobs=2))
    print(f"{os.cpu_count()} cores, load average at the start {os.getloadavg()[0]:.2f}; "
          f"CPU work: {bw.loops_per_ms()} loop iterations per ms")  # fmt: skip
    cpu = time.process_time()
    fixed = _rounds({"ProcessPool, 64 trivial items": _pool_run(64, 0.0, max_jobs=2)}, 5 * rounds)
    share = (time.process_time() - cpu) / (5 * rounds) * 1e3
    _show(f"fixed cost of a dispatch (driver CPU {share:.1f} ms per run, mean)", fixed, "ms")
    total = 64 * 50.0
    cases = {
        "Cached": lambda: _check(bw.run_misses("Cached", 64, 50.0, _folder())),
        "ProcessPool (max_jobs=2)": _pool_run(64, 50.0, max_jobs=2),
        "ProcessPool (default max_jobs)": _pool_run(64, 50.0),
        "no exca, one process": lambda: bw.spin(total),
        "no exca, 2 forked processes": lambda: bw.spin_in_forks(total, 2),
    }
    times = _rounds(cases, rounds)
    _show("64 items of 50 ms of CPU", times)
    best = {name: min(values) for name, values in times.items()}
    print(f"  speed-up over Cached: max_jobs=2 {best['Cached'] / best['ProcessPool (max_jobs=2)']:.2f}x, "
          f"default {best['Cached'] / best['ProcessPool (default max_jobs)']:.2f}x; bare fork "
          f"{best['no exca, one process'] / best['no exca, 2 forked processes']:.2f}x")  # fmt: skip
    heap = [{"k": [i, str(i)]} for i in range(300_000)]  # a driver's objects
    cases = {
        "ProcessPool, heap frozen at fork": _allocate("ProcessPool"),
        "ProcessPool, not frozen": _allocate("ProcessPool", frozen=False),
        "Cached": _allocate("Cached"),
    }
    _show(f"8 allocating items, driver holding {len(heap):,} dicts", _rounds(cases, rounds))
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}", file=sys.stderr)


if __name__ == "__main__":
    main()
