"""The Step workload, written once against the public Step API (the same in exca 0.6.0).

Run as a script by :mod:`compare_reference` (``PYTHON step_workload.py TASK ARGS_JSON``)
under either interpreter, it is the child side of :mod:`_child`; the asv Step
benchmarks import it too. It imports ``exca.steps`` only when a task needs it, so it
imports (and asv discovers the benchmarks) even where ``exca.steps`` does not work.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from typing import Any

COEFF = 3.0
_COMPUTED = [0]  # how many times the step really computed, in this process
_CLASSES: dict[str, type] = {}


def mult_class() -> type:
    """``Mult(coeff)``: ``x * coeff``, counting its computations (a trivial compute)."""
    if not _CLASSES:
        from exca.steps import Step

        class Mult(Step):
            coeff: float = 2.0

            def _run(self, x: float) -> float:
                _COMPUTED[0] += 1
                return x * self.coeff

        _CLASSES["Mult"] = Mult
    return _CLASSES["Mult"]


def make_step(folder: str) -> Any:
    return mult_class()(coeff=COEFF, infra={"backend": "Cached", "folder": folder})


def expected(x: int) -> float:
    return x * COEFF


def _best_per_call(run: Callable[[], object], calls: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            run()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def fill(folder: str, n: int) -> dict[str, Any]:
    """Cache items ``0..n-1`` of the workload step in ``folder``, through public API only.

    Writing ``n`` misses with ``run_many`` is quadratic in exca 0.6.0 (hours at 100k), so
    the values go in through ``step.lookup(x).cache_dict`` under ``lookup(x).uid``; a
    sample is then run to prove that the step serves them without computing.
    """
    step = make_step(folder)
    handles = [step.lookup(i) for i in range(n)]
    cache = handles[0].cache_dict
    with cache.write():
        for i, handle in enumerate(handles):
            cache[handle.uid] = expected(i)
    sample = list(range(0, n, max(1, n // 100)))
    before = _COMPUTED[0]
    values = list(make_step(folder).run_many(sample))
    served = _COMPUTED[0] == before and values == [expected(i) for i in sample]
    return {"served_from_cache": served}


# ----------------------------------------------------------------------- child tasks
def _identity() -> dict[str, Any]:
    import exca

    return {"version": getattr(exca, "__version__", "?"), "file": exca.__file__}


def _task_import(args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    def run() -> dict[str, Any]:
        import exca.steps  # noqa: F401

        return _identity()

    return run


def _task_fill(args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    return lambda: fill(args["folder"], args["n"])


def _task_run_hit(args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    folder = tempfile.mkdtemp(prefix="exca-bench-step-", dir=args.get("dir"))
    step = make_step(folder)
    assert step.run(1) == expected(1)

    def run() -> dict[str, Any]:
        before = _COMPUTED[0]
        same = _best_per_call(lambda: step.run(1), args["calls"], args["rounds"])
        new = _best_per_call(
            lambda: make_step(folder).run(1), max(1, args["calls"] // 20), args["rounds"]
        )
        return {"same_instance": same, "new_instance": new, "computed": _COMPUTED[0] - before}

    return run


def _task_run_miss(args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    calls, rounds = args["calls"], args["rounds"]
    steps = [make_step(tempfile.mkdtemp(prefix="exca-bench-step-", dir=args.get("dir")))
             for _ in range(rounds)]  # fmt: skip

    def run() -> dict[str, Any]:
        best = float("inf")
        for step in steps:  # a new store each round: every call is a miss
            start = time.perf_counter()
            for x in range(calls):
                step.run(x)
            best = min(best, (time.perf_counter() - start) / calls)
        return {"per_call": best, "computed": _COMPUTED[0]}

    return run


def _task_run_many(args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """``run_many`` over ``count`` items of a fresh step instance, in ``folder`` (or in a
    new store when no folder is given: all misses). With ``warm_up``, the process first
    runs the step once on another store, so that one-time costs of a new process
    (deferred imports, model schemas) are paid before the timing."""
    folder = args.get("folder") or tempfile.mkdtemp(prefix="exca-bench-step-", dir=args.get("dir"))
    values = list(range(args["count"]))
    mult_class()
    if args.get("warm_up"):
        make_step(tempfile.mkdtemp(prefix="exca-bench-warm-", dir=args.get("dir"))).run(-1)

    def run() -> dict[str, Any]:
        before = _COMPUTED[0]
        results = list(make_step(folder).run_many(values))
        ok = results == [expected(x) for x in values]
        return {"count": len(values), "computed": _COMPUTED[0] - before, "correct": ok}

    return run


def _task_first_hit(args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    mult_class()

    def run() -> dict[str, Any]:
        before = _COMPUTED[0]
        value = make_step(args["folder"]).run(args["item"])
        return {"computed": _COMPUTED[0] - before, "correct": value == expected(args["item"])}

    return run


def _task_cold_start(args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """``import exca.steps``, define the step class, and its first hit: all timed."""

    def run() -> dict[str, Any]:
        value = make_step(args["folder"]).run(args["item"])
        return {"computed": _COMPUTED[0], "correct": value == expected(args["item"])}

    return run


TASKS = {
    "import": _task_import,
    "cold_start": _task_cold_start,
    "fill": _task_fill,
    "run_hit": _task_run_hit,
    "run_miss": _task_run_miss,
    "run_many": _task_run_many,
    "first_hit": _task_first_hit,
}


if __name__ == "__main__":
    from _child import serve  # this folder is first on sys.path when run as a script

    serve(TASKS)
