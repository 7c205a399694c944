"""Step workloads over cached arrays, written once against the public Step API (child side).

Runs under exca 0.6.0 and this exca alike (``python step_arrays.py TASK ARGS_JSON``, the
:mod:`_child` protocol). The step ``Arr(mib)`` returns a float32 array of ``mib`` MiB
filled with its input, counting its computations: a read that computes is reported.
:data:`SCRIPT` is a user's whole script over the same step, run by the parent from
interpreter start to exit, beside :data:`FLOOR_SCRIPT` (pydantic and numpy imported, the
same arrays loaded with ``np.load(mmap_mode="r")``); :data:`SMALL_SCRIPT` reads the small
cached results of ``step_workload.py``'s ``Mult`` step the same way.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

_COMPUTED = [0]
_CLASSES: dict[str, type] = {}

SCRIPT = """
import sys
import numpy as np
from exca.steps import Step

class Arr(Step):
    mib: float = 1.0

    def _run(self, x: int) -> np.ndarray:
        raise RuntimeError("computed: the cache was expected to serve every item")

step = Arr(mib=float(sys.argv[2]), infra={"backend": "Cached", "folder": sys.argv[1]})
values = list(step.run_many(range(int(sys.argv[3]))))
assert all(float(v[0]) == i for i, v in enumerate(values))
"""

SMALL_SCRIPT = """
import sys
from exca.steps import Step

class Mult(Step):
    coeff: float = 2.0

    def _run(self, x: float) -> float:
        raise RuntimeError("computed: the cache was expected to serve every item")

count = int(sys.argv[2])
step = Mult(coeff=3.0, infra={"backend": "Cached", "folder": sys.argv[1]})
assert list(step.run_many(range(count))) == [x * 3.0 for x in range(count)]
"""

FLOOR_SCRIPT = """
import sys
import numpy as np
from pydantic import BaseModel

folder, count = sys.argv[1], int(sys.argv[3])
values = [np.load(f"{folder}/{i}.npy", mmap_mode="r") for i in range(count)]
assert all(float(v[0]) == i for i, v in enumerate(values))
"""


def arr_class() -> type:
    if not _CLASSES:
        from exca.steps import Step

        class Arr(Step):
            mib: float = 1.0

            def _run(self, x: int) -> np.ndarray:
                _COMPUTED[0] += 1
                return np.full(int(self.mib * (1 << 18)), float(x), dtype=np.float32)

        # the whole-script rows read these entries through a script's module-level
        # ``Arr``: a step folder records each class's qualname, which must match
        Arr.__qualname__ = "Arr"
        _CLASSES["Arr"] = Arr
    return _CLASSES["Arr"]


def make_step(args: dict[str, Any], keep_in_ram: bool = False) -> Any:
    infra = {"backend": "Cached", "folder": args["folder"], "keep_in_ram": keep_in_ram}
    return arr_class()(mib=args["mib"], infra=infra)


def warm_up() -> None:
    """Run the step once on a throw-away store: the modules a run needs are then loaded
    (one-time costs of a new process, which ``import exca.steps`` may defer)."""
    make_step({"folder": tempfile.mkdtemp(prefix="exca-bench-warm-"), "mib": 1 / 64}).run(0)


def _rss(field: str = "VmRSS") -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _correct(values: list[Any]) -> bool:
    return all(float(value[0]) == i for i, value in enumerate(values))


# ---------------------------------------------------------------------- child tasks
def _task_fill(args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    def run() -> dict[str, Any]:
        values = list(make_step(args).run_many(list(range(args["count"]))))
        return {"computed": _COMPUTED[0], "correct": _correct(values)}

    return run


def _task_read(args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """``run_many`` over the cached arrays: the first in this process (``first``; after a
    run elsewhere with ``warm_up``), or the best of ``rounds`` after it on the same
    instance (``same``) or new ones (``new``)."""
    items, mode = list(range(args["count"])), args["mode"]
    arr_class()
    if args.get("warm_up"):
        warm_up()
    step = make_step(args)
    if mode != "first":
        list(step.run_many(items))

    def run() -> dict[str, Any]:
        before, best, values = _COMPUTED[0], float("inf"), []
        for _ in range(1 if mode == "first" else args["rounds"]):
            start = time.perf_counter()
            values = list((step if mode == "same" else make_step(args)).run_many(items))
            best = min(best, time.perf_counter() - start)
            ok = _correct(values)
        return {"best": best, "computed": _COMPUTED[0] - before, "correct": ok}

    return run


def _task_memory(args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """Read the cached arrays one after another, each read through, none kept by the
    caller: the peak resident memory above the start (and, with ``keep_in_ram``, what the
    step still holds at the end)."""
    warm_up()  # (modules loaded first: their memory is not the reads')
    step = make_step(args, keep_in_ram=args["keep_in_ram"])

    def run() -> dict[str, Any]:
        before, start = _COMPUTED[0], _rss()
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # resets the peak (VmHWM) to the current resident set
        ok = True
        for i in range(args["count"]):
            value = step.run(i)
            ok = ok and float(value.max()) == i
            del value
        return {"peak_growth": _rss("VmHWM") - start, "end_growth": _rss() - start,
                "computed": _COMPUTED[0] - before, "correct": ok}  # fmt: skip

    return run


TASKS = {"fill": _task_fill, "read": _task_read, "memory": _task_memory}


if __name__ == "__main__":
    from _child import serve

    serve(TASKS)
