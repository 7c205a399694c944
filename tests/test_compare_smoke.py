"""Contract of the side-by-side comparison (``make compare``): its machinery runs every
section at tiny sizes, writes a markdown table with a row per workload and library, and
never reports a figure for a side that failed (the full run is outside the test suite;
no timing is asserted here)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "compare" / "run.py"


def test_smoke_run_writes_a_table_of_every_section_and_library(tmp_path: Path) -> None:
    env = {**os.environ, "EXCA_BENCH_FIXTURES": str(tmp_path / "fixtures")}
    done = subprocess.run([sys.executable, str(RUN), "--smoke", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    text = (tmp_path / "benchmarks.md").read_text()
    for title in ("Start-up", "Arrays (store level)", "Small entries", "Steps over cached"):
        assert f"### {title}" in text
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["errors"] == {}
    samples = results["samples"]
    assert set(samples["array_write_0.25"]) == {"exca", "joblib", "diskcache", "numpy", "raw"}
    assert set(samples["small_hit_200"]) == {"exca", "joblib", "diskcache"}
    assert set(samples["many_arrays_script"]) == {"ours", "floor"}
    assert set(samples["small_script"]) == {"ours"}
    assert samples["memory_peak_False"]["ours"][0] > 0
    if importlib.util.find_spec("matplotlib") is not None:
        assert {p.name for p in (tmp_path / "img").iterdir()} >= {"compare-throughput.png"}


def test_a_second_run_replaces_the_table_between_its_markers(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\nkept\n<!-- compare:begin -->\nold\n<!-- compare:end -->\n")
    argv = [sys.executable, str(RUN), "--smoke", "--out", str(tmp_path), "--sections", "startup"]
    subprocess.run(argv, check=True, capture_output=True, timeout=300)
    text = page.read_text()
    assert text.startswith("# Benchmarks\n\nkept\n<!-- compare:begin -->\n")
    assert "old" not in text and text.count("### Start-up") == 1
    assert text.rstrip().endswith("<!-- compare:end -->")
