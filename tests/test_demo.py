"""Contract: ``python -m exca.demo FOLDER`` (the README's main job) computes every item on
its first run, serves every item from the cache on its second, and again in a new process."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

_RUN = re.compile(r"^run (\d): (\d+) computed, (\d+) from cache", re.MULTILINE)


def _demo(folder: Path) -> tuple[list[tuple[int, int]], str]:
    done = subprocess.run(
        [sys.executable, "-m", "exca.demo", str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    runs = [(int(c), int(h)) for _, c, h in _RUN.findall(done.stdout)]
    return runs, done.stdout


def test_the_demo_computes_once_then_serves_every_item_from_the_cache(tmp_path: Path) -> None:
    from exca.demo import SUBJECTS

    folder = tmp_path / "demo-cache"
    runs, out = _demo(folder)
    assert runs == [(len(SUBJECTS), 0), (0, len(SUBJECTS))], out
    assert re.search(r"store: \d+ MiB on disk; verify: \d+ objects, \d+ entries checked\n", out)
    again, out = _demo(folder)
    assert again == [(0, len(SUBJECTS)), (0, len(SUBJECTS))], out
