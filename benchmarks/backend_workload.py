"""The backend workload, written once against the public Step API (the same in exca 0.6.0).

``run_many`` over fresh items (all misses) through a chosen backend: trivial items (the
per-item overhead of a backend) and items of a fixed CPU time (parallel speed-up). Run as a
script by :mod:`compare_reference` under either interpreter (the child side of
:mod:`_child`); the asv backend benchmarks import it too. The step class is defined at the
top of this module, so pool processes and Slurm jobs find it (by value when this module
runs as ``__main__``: submitit pickles it with cloudpickle).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from typing import Any

from exca.steps import Step

LOOPS_PER_MS = 25_000  # iterations of the loop below per millisecond of CPU time, measured here


class Spin(Step):
    """``x * 2`` after a fixed amount of CPU work: ``ms`` milliseconds of an idle core (a
    fixed count of loop iterations, so that contention lengthens it, as it would real work)."""

    ms: float = 0.0

    def _run(self, x: int) -> int:
        for _ in range(int(self.ms * LOOPS_PER_MS)):
            pass
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
    if args.get("warm_up"):
        other = tempfile.mkdtemp(prefix="exca-bench-warm-up-", dir=args.get("dir"))
        if not run_misses(args["backend"], 2, 0.0, other, **fields):
            raise RuntimeError(f"the warm-up run through {args['backend']} returned wrong results")

    def run() -> dict[str, Any]:
        cpu = time.process_time()  # the driver's own CPU: our overhead, not the workers'
        ok = run_misses(args["backend"], args["count"], args["ms"], folder, **fields)
        return {"correct": ok, "driver_cpu": time.process_time() - cpu}

    return run


def _spin(ms: float) -> None:
    for _ in range(int(ms * LOOPS_PER_MS)):
        pass


def spin_in_forks(total_ms: float, workers: int) -> None:
    """``total_ms`` of the loop's CPU work split over ``workers`` forked processes, without
    exca: the machine's parallelism at that moment."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_spin, args=(total_ms / workers,)) for _ in range(workers)]
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
    warm_up = context.Process(target=_spin, args=(0.0,))
    warm_up.start()
    warm_up.join()

    def run() -> dict[str, Any]:
        start = time.perf_counter()
        _spin(total_ms)
        sequential = time.perf_counter() - start
        start = time.perf_counter()
        spin_in_forks(total_ms, workers)
        return {"sequential": sequential, "parallel": time.perf_counter() - start}

    return run


TASKS = {"run_many": _task_run_many, "bare": _task_bare}


if __name__ == "__main__":
    from _child import serve  # this folder is first on sys.path when run as a script

    serve(TASKS)
