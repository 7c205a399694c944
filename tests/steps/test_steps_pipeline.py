"""Contract: pipelines key items once at entry, chains with infra are one unit sharing the
last step's cell, and damaged or missing cached values are recomputed, never served."""

from __future__ import annotations

import typing as tp
from pathlib import Path

import numpy as np
import pytest

from exca.steps import Chain, Step, backends

CALLS: list[tp.Any] = []


class PipeAdd(Step):
    value: int = 1

    def _run(self, x: int) -> int:
        CALLS.append((self.value, x))
        return x + self.value


class PipeKeyed(Step):
    def _run(self, x: dict[str, int]) -> int:
        return x["v"]

    def item_uid(self, value: tp.Any) -> str | None:
        return f"item-{value['id']}"


class PipeArray(Step):
    def _run(self, n: int) -> np.ndarray:
        CALLS.append(n)
        return np.full(20_000, n, dtype=np.int64)


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    CALLS.clear()


def cached(folder: Path, **kwargs: tp.Any) -> dict[str, tp.Any]:
    return {"backend": "Cached", "folder": folder, **kwargs}


def test_the_item_uid_of_the_first_step_keys_every_cell_of_the_chain(tmp_path: Path) -> None:
    chain = Chain(
        steps=[PipeKeyed(infra=cached(tmp_path)), PipeAdd(infra=cached(tmp_path))]  # type: ignore[arg-type]
    )
    assert chain.run({"id": 7, "v": 1}) == 2
    assert chain[0].lookup(_uid="item-7").status == "success"
    assert chain[1].lookup(_uid="item-7", _upstream=[chain[0]]).result() == 2
    assert chain.lookup({"id": 7, "v": 999}).result() == 2  # keyed by the uid only


def test_a_chain_with_infra_is_one_unit_cached_in_its_last_step_cell(tmp_path: Path) -> None:
    chain = Chain(steps=[PipeAdd(value=1), PipeAdd(value=10)], infra=cached(tmp_path))  # type: ignore[arg-type]
    assert chain.run(0) == 11
    last = Chain(steps=[PipeAdd(value=1), PipeAdd(value=10, infra=cached(tmp_path))])  # type: ignore[arg-type]
    CALLS.clear()
    assert last.run(0) == 11 and CALLS == []  # the same cell, seen from the last step
    assert chain.lookup(0).paths == last.lookup(0).paths


def test_a_lookup_handle_built_from_paths_reads_that_cell(tmp_path: Path) -> None:
    step = PipeAdd(infra=cached(tmp_path))  # type: ignore[arg-type]
    step.run(1)
    handle = step.lookup(1)
    backend = backends.Cached(folder=tmp_path)
    rebuilt = backends.LookupHandle(paths=handle.paths, backend=backend, uid=handle.uid)
    assert rebuilt.status == "success" and rebuilt.result() == 2
    assert dict(rebuilt.cache_dict.items()) == {handle.uid: 2}


def test_a_missing_payload_is_recomputed_not_served(tmp_path: Path) -> None:
    PipeArray(infra=cached(tmp_path)).run(3)  # type: ignore[arg-type]
    for path in (tmp_path / "objects").rglob("*"):
        if path.is_file():
            path.unlink()
    CALLS.clear()
    back = PipeArray(infra=cached(tmp_path)).run(3)  # type: ignore[arg-type]
    assert CALLS == [3] and int(back[0]) == 3


def test_a_flipped_byte_is_caught_when_values_are_read_into_ram(tmp_path: Path) -> None:
    PipeArray(infra=cached(tmp_path, keep_in_ram=True)).run(4)  # type: ignore[arg-type]
    [payload] = [p for p in (tmp_path / "objects").rglob("*") if p.is_file()]
    payload.chmod(0o644)
    data = bytearray(payload.read_bytes())
    data[-1] ^= 0xFF
    payload.write_bytes(bytes(data))
    CALLS.clear()
    back = PipeArray(infra=cached(tmp_path, keep_in_ram=True)).run(4)  # type: ignore[arg-type]
    assert CALLS == [4] and int(back[-1]) == 4


def test_steps_without_infra_between_cached_ones_run_only_for_misses(tmp_path: Path) -> None:
    def chain() -> Chain:
        return Chain(
            steps=[
                PipeAdd(value=1, infra=cached(tmp_path)),  # type: ignore[arg-type]
                PipeAdd(value=2),
                PipeAdd(value=3, infra=cached(tmp_path)),  # type: ignore[arg-type]
            ]
        )

    assert list(chain().run_many([0, 1])) == [6, 7]
    CALLS.clear()
    assert list(chain().run_many([0, 1, 2])) == [6, 7, 8]
    assert CALLS == [(1, 2), (2, 3), (3, 5)]


def test_results_of_an_uncached_tail_are_computed_as_they_are_read(tmp_path: Path) -> None:
    chain = Chain(steps=[PipeAdd(value=1, infra=cached(tmp_path)), PipeAdd(value=2)])  # type: ignore[arg-type]
    items = chain.run_many([0, 1])
    assert CALLS == [(1, 0), (1, 1)]  # the cached boundary computed at the call
    assert list(items) == [3, 4] and CALLS[2:] == [(2, 1), (2, 2)]


def test_a_result_cached_by_one_backend_is_read_through_any_other(tmp_path: Path) -> None:
    PipeAdd(infra=cached(tmp_path)).run(1)  # type: ignore[arg-type]
    CALLS.clear()
    for name in ("ThreadPool", "ProcessPool", "Slurm", "SubmititDebug"):  # even with no Slurm
        assert PipeAdd(infra={"backend": name, "folder": tmp_path}).run(1) == 2  # type: ignore[arg-type]
    assert CALLS == []
