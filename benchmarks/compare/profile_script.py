"""Where a user's whole script over 10,000 cached small results spends its time, phase by
phase, for this exca and exca 0.6.0.

Usage: ``.venv/bin/python benchmarks/compare/profile_script.py [ROUNDS]`` (15 by default).
Runs ``step_arrays.SMALL_SCRIPT``'s work in fresh interpreters, the clock read between its
phases: the import of ``exca.steps``, the definition of the step class, its instance, the
first ``run_many`` over the 10,000 cached items and a second one. Each phase is the best
of ``ROUNDS`` processes; ours is also run with numpy imported before the clock starts,
which shows what numpy's import costs the first run. The stores are the fixtures of
``compare_reference.py``. Start and exit of the interpreter are not in these figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _fixtures import REPO, byte_compile_exca, source_digest  # noqa: E402
from compare_reference import Side, store_fixture  # noqa: E402

PHASES = """
import json, sys, time
{preamble}
t0 = time.perf_counter()
from exca.steps import Step
t1 = time.perf_counter()

class Mult(Step):
    coeff: float = 2.0

    def _run(self, x: float) -> float:
        raise RuntimeError("computed: the cache was expected to serve every item")

t2 = time.perf_counter()
step = Mult(coeff=3.0, infra={{"backend": "Cached", "folder": sys.argv[1]}})
t3 = time.perf_counter()
assert list(step.run_many(range(10_000))) == [x * 3.0 for x in range(10_000)]
t4 = time.perf_counter()
list(step.run_many(range(10_000)))
t5 = time.perf_counter()
laps = [t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t4 - t0]
print(json.dumps(dict(zip(["import", "define", "instance", "first", "second", "total"], laps))))
"""


def best_phases(python: str, store: str, preamble: str, rounds: int) -> dict[str, float]:
    best: dict[str, float] = {}
    for _ in range(rounds):
        argv = [python, "-c", PHASES.format(preamble=preamble), store]
        laps = json.loads(subprocess.run(argv, check=True, capture_output=True).stdout)
        best = {name: min(best.get(name, lap), lap) for name, lap in laps.items()}
    return best


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    ours_python, ref_python = str(REPO / ".venv" / "bin" / "python"), "/tmp/ref/bin/python"
    tag = "ours-" + source_digest(REPO / "src" / "exca", salt="steps-1")
    sides = [("ours", ours_python, tag, ""), ("ours, numpy imported first", ours_python, tag,
             "import numpy"), ("exca 0.6.0", ref_python, "ref-0.6.0", "")]  # fmt: skip
    print(f"best of {rounds} processes, ms (load average {os.getloadavg()[0]:.2f})")
    for name, python, fixture_tag, preamble in sides:
        if not os.path.exists(python):
            continue
        byte_compile_exca(python)
        store = store_fixture(Side(name, python, fixture_tag), 10_000)
        if store is None:
            print(f"{name}: no store of 10,000 items could be built")
            continue
        laps = best_phases(python, store, preamble, rounds)
        print(f"{name}: " + ", ".join(f"{k} {v * 1e3:.1f}" for k, v in laps.items()))


if __name__ == "__main__":
    main()
