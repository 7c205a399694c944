"""The backend workload, written once against the public Step API (the same in exca 0.6.0).

``run_many`` over fresh items (all misses) through a chosen backend: trivial items (the
per-item overhead of a backend) and items of a fixed CPU time (parallel speed-up). Run as a
script by :mod:`compare_reference` under either interpreter (the child side of
:mod:`_child`); the asv backend benchmarks import it too. The step class is defined at the
top of this module, so pool processes and Slurm jobs find it (by value when this module
runs as ``__main__``: submitit pickles it with cloudpickle).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

from exca.steps import Step

LOOPS_ENV = "EXCA_BENCH_LOOPS_PER_MS"  # the calibration, handed down to child processes
_PROBE_LOOPS = 200_000  # iterations timed by one calibration round (a few milliseconds)


class Spin(Step):
    """``x * 2`` after a fixed amount of CPU work: ``ms`` milliseconds of an idle core (see
    :func:`spin`)."""

    ms: float = 0.0

    def _run(self, x: int) -> int:
        spin(self.ms)
        return x * 2


def make_step(backend: str, folder: str, ms: float, **fields: Any) -> Spin:
    return Spin(ms=ms, infra={"backend": backend, "folder": folder, **fields})


def run_misses(backend: str, count: int, ms: float, folder: str, **fields: Any) -> bool:
    """``run_many`` over ``count`` misses; whether the results are right."""
    values = list(range(count))
    return list(make_step(backend, folder, ms, **fields).run_many(values)) == [
        2 * v for v in values
    ]


def _task_run_many(args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """``run_many`` over misses; with ``warm_up``, first (untimed) the same backend over
    two trivial items in another folder: the modules a run needs are loaded (numpy,
    the store, multiprocessing, submitit; a Slurm warm-up submits a job of its own)."""
    folder = tempfile.mkdtemp(prefix="exca-bench-backend-", dir=args.get("dir"))
    fields = args.get("fields", {})
    if args["ms"]:
        loops_per_ms()  # (before the workers start, and untimed)
    if args.get("warm_up"):
        other = tempfile.mkdtemp(prefix="exca-bench-warm-up-", dir=args.get("dir"))
        if not run_misses(args["backend"], 2, 0.0, other, **fields):
            raise RuntimeError(f"the warm-up run through {args['backend']} returned wrong results")

    def run() -> dict[str, Any]:
        cpu = time.process_time()  # the driver's own CPU: our overhead, not the workers'
        ok = run_misses(args["backend"], args["count"], args["ms"], folder, **fields)
        return {"correct": ok, "driver_cpu": time.process_time() - cpu}

    return run


def loops_per_ms() -> int:
    """Iterations of :func:`spin`'s loop per millisecond of an idle core here: measured
    once per process tree (the fastest of several rounds) and left in ``LOOPS_ENV`` for
    the processes started after (pool workers, Slurm jobs, the children of both sides of
    a comparison, when their parent calibrated first), so all run the same loops."""
    known = os.environ.get(LOOPS_ENV)
    if known:
        return int(known)
    fastest = float("inf")
    for _ in range(7):
        start = time.perf_counter()
        _loop(_PROBE_LOOPS)
        fastest = min(fastest, time.perf_counter() - start)
    measured = max(1, round(_PROBE_LOOPS / (fastest * 1e3)))
    os.environ[LOOPS_ENV] = str(measured)
    return measured


def spin(ms: float) -> None:
    """``ms`` milliseconds of CPU work on an idle core: a count of loop iterations fixed by
    :func:`loops_per_ms`, so that contention lengthens it, as it would real work."""
    if ms > 0:
        _loop(int(ms * loops_per_ms()))


def _loop(count: int) -> None:
    for _ in range(count):
        pass


def spin_in_forks(total_ms: float, workers: int) -> None:
    """``total_ms`` of the loop's CPU work split over ``workers`` forked processes, without
    exca: the machine's parallelism at that moment."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    loops_per_ms()  # (measured here, not in each process)
    processes = [context.Process(target=spin, args=(total_ms / workers,)) for _ in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()


def _task_bare(args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """The machine's parallelism at this moment, without exca: the CPU work of the pool
    rows done in one process, then split over ``workers`` forked processes (the modules
    they need loaded first, as in the pool rows)."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    total_ms, workers = args["count"] * args["ms"], args["workers"]
    loops_per_ms()  # (untimed)
    warm_up = context.Process(target=spin, args=(0.0,))
    warm_up.start()
    warm_up.join()

    def run() -> dict[str, Any]:
        start = time.perf_counter()
        spin(total_ms)
        sequential = time.perf_counter() - start
        start = time.perf_counter()
        spin_in_forks(total_ms, workers)
        return {"sequential": sequential, "parallel": time.perf_counter() - start}

    return run


def _task_calibrate(args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    return lambda: {"loops_per_ms": loops_per_ms()}


TASKS = {"run_many": _task_run_many, "bare": _task_bare, "calibrate": _task_calibrate}


if __name__ == "__main__":
    from _child import serve  # this folder is first on sys.path when run as a script

    serve(TASKS)
