"""Contract: what a process remembers of cached arrays between runs (the maps it opened, the
entry records it decoded) never serves an item another process recomputed, cleared or
collected: a new step instance reads every entry afresh and opens what it names; the same
instance, which trusts the entries it has seen (as exca 0.6.0), recomputes an item whose
object is gone rather than serving the map it kept."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from exca.steps import Step

ITEMS = list(range(6))
CALLS: list[int] = []

_CHILD = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from exca.steps import Step

    class Stamped(Step):
        def _run(self, value: int) -> np.ndarray:
            return np.full(4096, value + float(os.environ["STAMP"]))

    folder, mode, items = sys.argv[1], sys.argv[2], [int(item) for item in sys.argv[3:]]
    if mode == "clear":
        for item in items:
            Stamped(infra={"backend": "Cached", "folder": folder}).lookup(item).clear_cache()
    elif mode == "gc":
        from exca.store import Store
        Store(folder).gc(grace_s=0)
    else:
        list(Stamped(infra={"backend": "Cached", "folder": folder, "mode": mode}).run_many(items))
    """
)


class Stamped(Step):
    """An array of its input plus ``$STAMP``: a recomputation can give another value."""

    def _run(self, value: int) -> np.ndarray:
        CALLS.append(value)
        return np.full(4096, value + float(os.environ["STAMP"]))


@pytest.fixture(autouse=True)
def _stamp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAMP", "0")
    CALLS.clear()


def _other_process(folder: Path, mode: str, items: list[int], stamp: str = "0") -> None:
    env = {**os.environ, "STAMP": stamp}
    argv = [sys.executable, "-c", _CHILD, str(folder), mode, *map(str, items)]
    subprocess.run(argv, check=True, env=env, capture_output=True, text=True, timeout=120)


def _firsts(values: object) -> list[float]:
    return [float(value[0]) for value in values]  # type: ignore[attr-defined]


def _step(folder: Path) -> Stamped:
    return Stamped(infra={"backend": "Cached", "folder": folder})


def test_a_new_instance_serves_what_another_process_recomputed(tmp_path: Path) -> None:
    assert _firsts(_step(tmp_path).run_many(ITEMS)) == ITEMS  # maps and records remembered
    _other_process(tmp_path, "force", ITEMS[:3], stamp="100")
    assert _firsts(_step(tmp_path).run_many(ITEMS)) == [100, 101, 102, 3, 4, 5]
    assert CALLS == ITEMS  # (computed once, here, before the other process's force)


def test_a_new_instance_recomputes_what_another_process_cleared(tmp_path: Path) -> None:
    assert _firsts(_step(tmp_path).run_many(ITEMS)) == ITEMS
    _other_process(tmp_path, "clear", [1, 4])
    _other_process(tmp_path, "gc", [])  # (their objects are unreferenced now: removed)
    CALLS.clear()
    assert _firsts(_step(tmp_path).run_many(ITEMS)) == ITEMS
    assert CALLS == [1, 4]


def test_the_same_instance_recomputes_an_item_whose_object_another_process_collected(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    step = _step(tmp_path)
    assert _firsts(step.run_many(ITEMS)) == ITEMS
    _other_process(tmp_path, "clear", [2])
    _other_process(tmp_path, "gc", [])
    CALLS.clear()
    with caplog.at_level(logging.WARNING):
        assert _firsts(step.run_many(ITEMS)) == ITEMS  # its kept map was not served
    assert CALLS == [2]
    assert any("recomputing damaged cached value" in r.getMessage() for r in caplog.records)
