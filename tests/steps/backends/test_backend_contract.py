"""Contract every backend keeps (run for each): results in input order, duplicates computed
once, errors cached per item and re-raised with their type, modes, chains with infra as one
unit, and units of work that survive a pickle round trip."""

from __future__ import annotations

import os
import pickle
import typing as tp
from pathlib import Path

import pytest
from backend_steps import Record, calls_of, infra, pids_of, skip_without_slurm

from exca.steps import Chain, Step
from exca.steps.backends import Cached

BACKENDS = [
    "Cached",
    "_PicklingInline",
    "ThreadPool",
    "ProcessPool",
    "LocalProcess",
    "SubmititDebug",
    "Slurm",  # (where a Slurm cluster answers)
    "Auto",
]
IN_PROCESS = {"Cached", "_PicklingInline", "ThreadPool", "SubmititDebug"}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param in ("Slurm", "Auto"):
        skip_without_slurm()
    return tp.cast(str, request.param)


def drain(items: tp.Iterable[tp.Any]) -> list[tp.Any]:
    """Every result, or ``"Type: message"`` for each item that raised."""
    out: list[tp.Any] = []
    iterator = iter(items)
    while True:
        try:
            out.append(next(iterator))
        except StopIteration:
            return out
        except Exception as error:  # noqa: BLE001 - recorded as the item's outcome
            out.append(f"{type(error).__name__}: {error}")


def test_results_come_in_input_order_with_duplicates_computed_once(
    backend: str, calls: str, tmp_path: Path
) -> None:
    step = Record(calls=calls, infra=infra(backend, tmp_path))  # type: ignore[arg-type]
    assert list(step.run_many([3, 1, 3, 2])) == [6, 2, 6, 4]
    assert calls_of(calls) == [1, 2, 3]
    again = Record(calls=calls, infra=infra(backend, tmp_path))  # type: ignore[arg-type]
    assert list(again.run_many([2, 3, 4])) == [4, 6, 8] and calls_of(calls) == [1, 2, 3, 4]
    assert again.run(1) == 2 and again.lookup(4).status == "success"
    if backend not in IN_PROCESS:
        assert os.getpid() not in pids_of(calls)


def test_an_error_is_cached_per_item_and_raised_with_its_type_when_reached(
    backend: str, calls: str, tmp_path: Path
) -> None:
    step = Record(calls=calls, infra=infra(backend, tmp_path))  # type: ignore[arg-type]
    assert drain(step.run_many([1, -1, 2])) == [2, "ValueError: negative -1", 4]
    fresh = Record(calls=calls, infra=infra(backend, tmp_path))  # type: ignore[arg-type]
    assert fresh.lookup(-1).status == "error"
    with pytest.raises(ValueError, match="negative -1") as info:
        fresh.run(-1)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "reraised from cache" in notes
    if backend not in IN_PROCESS:  # the worker's traceback comes along
        assert "in _run" in notes and "traceback where it was raised" in notes
    assert calls_of(calls) == [-1, 1, 2]  # cached: not recomputed


def test_modes_recompute_what_they_should_on_every_backend(
    backend: str, calls: str, tmp_path: Path
) -> None:
    def step(mode: str) -> Record:
        return Record(calls=calls, infra=infra(backend, tmp_path, mode=mode))  # type: ignore[arg-type]

    drain(step("cached").run_many([1, -1]))
    retry = step("retry")
    assert drain(retry.run_many([1, -1])) == [2, "ValueError: negative -1"]
    assert calls_of(calls) == [-1, -1, 1]  # the error only
    forced = step("force")
    assert list(forced.run_many([1])) == [2] and list(forced.run_many([1])) == [2]
    assert calls_of(calls) == [-1, -1, 1, 1]  # once per instance
    with pytest.raises(RuntimeError, match="read-only"):
        step("read-only").run(5)
    assert step("read-only").run(1) == 2


def test_a_chain_with_infra_is_one_unit_whose_sub_steps_cache_in_their_own_cells(
    backend: str, calls: str, tmp_path: Path
) -> None:
    first = Record(calls=calls, coeff=10, infra=Cached(folder=tmp_path / "cache"))
    chain = Chain(steps=[first, Record(calls=calls, coeff=3)], infra=infra(backend, tmp_path))  # type: ignore[arg-type]
    assert list(chain.run_many([1, 2])) == [30, 60]
    pid = pid_of_calls(calls)
    assert sorted(pid) == [1, 2, 10, 20] and pid[1] == pid[10] and pid[2] == pid[20]
    assert chain.lookup(1).status == "success" and chain[0].lookup(2).status == "success"
    longer = Chain(
        steps=[first.clone(), Record(calls=calls, coeff=5)], infra=infra(backend, tmp_path)
    )  # type: ignore[arg-type]
    assert list(longer.run_many([1, 2])) == [50, 100]
    assert calls_of(calls) == [1, 2, 10, 10, 20, 20]  # the cached sub-step is read, not rerun


def pid_of_calls(calls: str) -> dict[float, int]:
    """The process that made each call (each value called once)."""
    return {float(p.name.split("@")[0]): int(p.name.split("@")[1]) for p in Path(calls).iterdir()}


def test_upstream_results_reach_the_workers_of_the_next_cached_step(
    backend: str, calls: str, tmp_path: Path
) -> None:
    chain = Chain(
        steps=[
            Record(calls=calls, coeff=2, infra=infra("Cached", tmp_path)),
            Record(calls=calls, coeff=10, infra=infra(backend, tmp_path)),
        ]
    )  # type: ignore[arg-type]
    assert drain(chain.run_many([1, -1, 3])) == [20, "ValueError: negative -1", 60]
    assert calls_of(calls) == [-1, 1, 2, 3, 6]  # the upstream error is not sent on


class _Recorder(Cached):
    """Keeps the units it is given (an in-memory oracle of what a worker receives)."""

    def _execute(self, units: tp.Sequence[tp.Any]) -> tp.Sequence[tp.Any]:
        _SEEN.extend(units)
        return super()._execute(units)


_SEEN: list[tp.Any] = []


def test_a_unit_of_work_pickles_and_runs_the_same_after_a_round_trip(
    calls: str, tmp_path: Path
) -> None:
    _SEEN.clear()
    step = Record(calls=calls, infra=_Recorder(folder=tmp_path / "a"))
    assert list(step.run_many([1, 2])) == [2, 4]
    (unit,) = _SEEN
    copy = pickle.loads(pickle.dumps(unit))
    assert (
        copy.keys == unit.keys and copy.step == unit.step and copy.cell.relpath == unit.cell.relpath
    )
    step.lookup(1).clear_cache()
    copy()  # writes through the store named in the unit, not through the driver
    assert Record(calls=calls, infra=Cached(folder=tmp_path / "a")).lookup(1).status == "success"


def test_a_step_that_is_not_a_model_field_default_is_rebuilt_in_the_worker(
    calls: str, tmp_path: Path
) -> None:
    class Inner(Step):  # not importable: in-process backends only
        def _run(self, x: int) -> int:
            return x + 1

    assert list(Inner(infra=infra("ThreadPool", tmp_path)).run_many([1, 2])) == [2, 3]  # type: ignore[arg-type]


def test_a_unit_whose_upstream_input_vanished_fails_and_caches_nothing(
    calls: str, tmp_path: Path
) -> None:
    _SEEN.clear()
    first = Record(calls=calls, coeff=10, infra=Cached(folder=tmp_path / "a"))
    chain = Chain(steps=[first, Record(calls=calls, infra=_Recorder(folder=tmp_path / "a"))])
    assert list(chain.run_many([1])) == [20]
    (unit,) = _SEEN
    chain.lookup(1).clear_cache()  # both cells: the input of the unit is gone
    with pytest.raises(LookupError, match="missing from"):
        pickle.loads(pickle.dumps(unit))()
    assert chain.lookup(1).status is None  # no error cached for a vanished input
