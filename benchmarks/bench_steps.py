"""Step hit and miss paths (``exca.steps``, ``Cached`` backend, a trivial compute).

Skipped (asv shows ``n/a``) while ``exca.steps`` cannot run the workload. The side by side
comparison with exca 0.6.0 is ``compare_reference.py``.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile

import step_workload as sw
from _child import run_child


def _require_steps() -> None:
    try:
        sw.mult_class()
    except Exception as err:
        raise NotImplementedError(f"exca.steps cannot run the workload: {err!r}") from err


class StepRun:
    """``run``/``run_many`` in a warm process, on a store holding items 0..999."""

    timeout = 300.0

    def setup(self) -> None:
        _require_steps()
        self.folder = tempfile.mkdtemp(prefix="exca-bench-steps-")
        self.step = sw.make_step(self.folder)
        list(self.step.run_many(range(1000)))
        self.fresh = itertools.count(10**6)

    def teardown(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def time_run_hit_same_instance(self) -> None:
        self.step.run(1)

    def time_run_hit_new_instance(self) -> None:
        sw.make_step(self.folder).run(1)

    def time_run_miss(self) -> None:
        self.step.run(next(self.fresh))

    def time_run_many_1000_hits_new_instance(self) -> None:
        list(sw.make_step(self.folder).run_many(range(1000)))

    def time_run_many_10000_misses(self) -> None:
        """10,000 trivial misses through ``Cached``: compute-once claims included (one
        claim record for the whole batch)."""
        start = next(self.fresh) * 10**4
        list(self.step.run_many(range(start, start + 10_000)))


class StepImport:
    unit = "ms"

    def track_import_exca_steps(self) -> float:
        """``import exca.steps`` in a new process (best of 3), interpreter start excluded."""
        return 1e3 * min(run_child(sw.__file__, "import", {})["seconds"] for _ in range(3))
