"""Backends: ``run_many`` over fresh misses through ``Cached``, ``ThreadPool`` and
``ProcessPool`` (1,000 trivial items: per-item overhead; 64 items of 50 ms CPU: speed-up).

The side by side comparison with exca 0.6.0 (and the Slurm array row) is
``compare_reference.py --backends-only``.
"""

from __future__ import annotations

import shutil
import tempfile

import backend_workload as bw


class BackendMisses:
    """``run_many`` over misses, a new store each time."""

    timeout = 600.0
    params = (["Cached", "ThreadPool", "ProcessPool"], ["trivial_1000", "cpu_64x50ms"])
    param_names = ["backend", "workload"]
    number = 1
    repeat = 3

    def setup(self, backend: str, workload: str) -> None:
        self.folders: list[str] = []
        self.count, self.ms = (1000, 0.0) if workload == "trivial_1000" else (64, 50.0)
        self.fields = {} if backend == "Cached" else {"max_jobs": 2}
        bw.loops_per_ms()  # (calibrated before timing, once per process)

    def teardown(self, backend: str, workload: str) -> None:
        for folder in self.folders:
            shutil.rmtree(folder, ignore_errors=True)

    def time_run_many_misses(self, backend: str, workload: str) -> None:
        folder = tempfile.mkdtemp(prefix="exca-bench-backend-")
        self.folders.append(folder)
        assert bw.run_misses(backend, self.count, self.ms, folder, **self.fields)
