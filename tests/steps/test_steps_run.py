"""Contract: run/run_many order, laziness, caching, errors, modes and _run_batch as in exca 0.6.0."""

from __future__ import annotations

import time
import typing as tp
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from exca.steps import Chain, Step
from exca.steps.items import BatchProtocolError, StepItems

CALLS: list[tuple[str, tp.Any]] = []


class RunMult(Step):
    coeff: float = 2.0

    def _run(self, value: float) -> float:
        CALLS.append(("mult", value))
        return value * self.coeff


class RunFail(Step):
    bad: int = 2

    def _run(self, value: int) -> int:
        CALLS.append(("fail", value))
        if value == self.bad:
            raise ValueError(f"bad value {value}")
        return value


class RunBatch(Step):
    extra: int = 0  # results yielded beyond (>0) or short of (<0) the inputs

    def _run_batch(self, values: tp.Iterable[tp.Any]) -> tp.Iterator[tp.Any]:
        values = list(values)
        CALLS.append(("batch", values))
        results = [v * 10 for v in values]
        if self.extra > 0:
            results += [0] * self.extra
        yield from results[: len(results) + min(self.extra, 0)]


class WaitsForTheFirst(Step):
    """Its second item waits (10 s at most) until a reader elsewhere sees the first cached."""

    def _run(self, value: int) -> int:
        if value == 2:
            first = WaitsForTheFirst(infra=self.infra).lookup(1)
            deadline = time.monotonic() + 10
            with ThreadPoolExecutor(1) as other:  # a thread does not share this one's writes
                while not (seen := other.submit(first.cached).result()):
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
            CALLS.append(("first seen", seen))
        return value


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    CALLS.clear()


def cached(folder: Path, **kwargs: tp.Any) -> dict[str, tp.Any]:
    return {"backend": "Cached", "folder": folder, **kwargs}


def test_run_many_without_infra_is_lazy_ordered_and_computes_duplicates_once() -> None:
    items = RunMult().run_many([1, 2, 1])
    assert isinstance(items, StepItems) and CALLS == []
    assert list(items) == [2, 4, 2]
    assert CALLS == [("mult", 1), ("mult", 2)]


def test_run_many_with_cached_computes_at_call_and_hits_afterwards(tmp_path: Path) -> None:
    step = RunMult(infra=cached(tmp_path))  # type: ignore[arg-type]
    items = step.run_many([1, 2, 1])
    assert CALLS == [("mult", 1), ("mult", 2)]
    assert list(items) == [2, 4, 2]
    assert RunMult(infra=cached(tmp_path)).run(2) == 4  # type: ignore[arg-type]
    assert len(CALLS) == 2
    assert step.lookup(1).result() == 2


def test_a_downstream_hit_never_runs_upstream_steps(tmp_path: Path) -> None:
    def chain() -> Chain:
        return Chain(
            steps=[
                RunMult(coeff=2, infra=cached(tmp_path)),
                RunMult(coeff=3, infra=cached(tmp_path)),
            ]  # type: ignore[arg-type]
        )

    assert chain().run(1.0) == 6.0
    chain()[0].lookup(1.0).clear_cache()
    CALLS.clear()
    assert chain().run(1.0) == 6.0
    assert CALLS == []


def test_errors_are_cached_with_notes_and_retry_recomputes_them(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bad value 2") as info:
        RunFail(infra=cached(tmp_path)).run(2)  # type: ignore[arg-type]
    assert any("RunFail" in note for note in info.value.__notes__)
    CALLS.clear()
    with pytest.raises(ValueError, match="bad value 2") as info:
        RunFail(infra=cached(tmp_path)).run(2)  # type: ignore[arg-type]
    assert CALLS == [] and any("mode='retry'" in note for note in info.value.__notes__)
    handle = RunFail(infra=cached(tmp_path)).lookup(2)  # type: ignore[arg-type]
    assert handle.status == "error" and handle.cached()
    retry = RunFail(infra=cached(tmp_path, mode="retry"))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        retry.run(2)
    assert CALLS == [("fail", 2)]
    with pytest.raises(ValueError):
        retry.run(2)  # once per instance
    assert CALLS == [("fail", 2)]


def test_unpicklable_errors_degrade_to_runtime_error_with_the_traceback(tmp_path: Path) -> None:
    class Unpicklable(Exception):
        def __reduce__(self) -> tp.NoReturn:
            raise TypeError("no")

    class RaisesOdd(Step):
        def _run(self, value: int) -> int:
            raise Unpicklable("odd")

    with pytest.raises(Unpicklable):
        RaisesOdd(infra=cached(tmp_path)).run(1)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="odd"):
        RaisesOdd(infra=cached(tmp_path)).run(1)  # type: ignore[arg-type]


def test_force_recomputes_once_per_instance_and_forces_downstream(tmp_path: Path) -> None:
    def chain(mode: str = "cached") -> Chain:
        first = RunMult(coeff=2, infra=cached(tmp_path, mode=mode))  # type: ignore[arg-type]
        return Chain(steps=[first, RunMult(coeff=3, infra=cached(tmp_path))])  # type: ignore[arg-type]

    chain().run(1.0)
    forced = chain("force")
    CALLS.clear()
    assert forced.run(1.0) == 6.0
    assert CALLS == [("mult", 1.0), ("mult", 2.0)]
    forced.run(1.0)
    assert len(CALLS) == 2


def test_force_on_a_sub_step_forces_the_chain_cell(tmp_path: Path) -> None:
    def chain(mode: str = "cached") -> Chain:
        steps = [RunMult(coeff=2), RunMult(coeff=3, infra={"backend": "Cached", "mode": mode})]
        return Chain(steps=steps, infra=cached(tmp_path))  # type: ignore[arg-type]

    chain().run(1.0)
    CALLS.clear()
    chain("force").run(1.0)
    assert CALLS == [("mult", 1.0), ("mult", 2.0)]


def test_read_only_raises_for_missing_items_and_after_a_forced_upstream(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="read-only"):
        RunMult(infra=cached(tmp_path, mode="read-only")).run(1.0)  # type: ignore[arg-type]
    RunMult(infra=cached(tmp_path)).run(1.0)  # type: ignore[arg-type]
    assert RunMult(infra=cached(tmp_path, mode="read-only")).run(1.0) == 2.0  # type: ignore[arg-type]
    steps = [
        RunMult(infra=cached(tmp_path, mode="force")),
        RunMult(infra=cached(tmp_path, mode="read-only")),
    ]
    with pytest.raises(ValueError, match="read-only"):
        Chain(steps=steps).run(1.0)  # type: ignore[arg-type]


def test_run_batch_must_yield_one_result_per_input(tmp_path: Path) -> None:
    assert list(RunBatch(infra=cached(tmp_path)).run_many([1, 2, 3])) == [10, 20, 30]  # type: ignore[arg-type]
    with pytest.raises(BatchProtocolError, match="more results"):
        list(RunBatch(extra=1).run_many([1, 2]))
    with pytest.raises(BatchProtocolError, match="unanswered"):
        RunBatch(extra=-1, infra=cached(tmp_path)).run_many([4, 5])  # type: ignore[arg-type]


def test_an_error_inside_run_batch_fails_its_pending_inputs_only() -> None:
    class Chunked(Step):
        def _run_batch(self, values: tp.Iterable[int]) -> tp.Iterator[int]:
            for value in values:
                if value < 0:
                    raise ValueError("negative")
                yield value

    results = iter(Chunked().run_many([1, -1, 2]))
    assert next(results) == 1
    with pytest.raises(ValueError, match="negative"):
        next(results)
    assert next(results) == 2


def test_keep_in_ram_serves_the_same_object_until_cleared(tmp_path: Path) -> None:
    class Listing(Step):
        def _run(self, value: int) -> list[int]:
            return [value]

    step = Listing(infra=cached(tmp_path, keep_in_ram=True))  # type: ignore[arg-type]
    first = step.run(1)
    assert step.run(1) is first
    step.lookup(1).clear_cache()
    assert step.clone().run(1) == [1]


def test_lookup_without_infra_is_a_null_handle_and_lookups_create_no_folder(
    tmp_path: Path,
) -> None:
    handle = RunMult().lookup(1.0)
    assert handle.status is None and not handle.cached() and handle.job() is None
    for attempt in (lambda: handle.paths, lambda: handle.cache_dict, handle.result):
        with pytest.raises(RuntimeError, match="no cache"):
            attempt()
    folder = tmp_path / "absent"
    handle = RunMult(infra=cached(folder)).lookup(1.0)  # type: ignore[arg-type]
    assert handle.status is None and not folder.exists()
    with pytest.raises(LookupError):
        handle.result()


def test_clear_cache_is_recursive_into_chain_steps_by_default(tmp_path: Path) -> None:
    chain = Chain(
        steps=[RunMult(coeff=2, infra=cached(tmp_path)), RunMult(coeff=3)],  # type: ignore[arg-type]
        infra=cached(tmp_path),  # type: ignore[arg-type]
    )
    chain.run(1.0)
    handle = chain.lookup(1.0)
    assert handle.status == "success" and handle.paths.cache_folder.name == "cache"
    assert handle.cache_dict[handle.uid] == 6.0
    handle.clear_cache(recursive=False)
    assert handle.status is None and chain[0].lookup(1.0).status == "success"
    chain.run(1.0)
    chain.lookup(1.0).clear_cache()
    assert chain[0].lookup(1.0).status is None


def test_deprecated_clear_cache_warns_and_clears(tmp_path: Path) -> None:
    class Constant(Step):
        def _run(self) -> int:
            return 1

    step = Constant(infra=cached(tmp_path))  # type: ignore[arg-type]
    step.run()
    with pytest.warns(DeprecationWarning):
        step.clear_cache()
    assert step.lookup().status is None


def test_a_slow_item_does_not_hold_back_the_entry_of_the_item_before_it(tmp_path: Path) -> None:
    # flushed at least every period: a crash in the slow one would not lose the other
    assert list(WaitsForTheFirst(infra=cached(tmp_path)).run_many([1, 2])) == [1, 2]  # type: ignore[arg-type]
    assert CALLS == [("first seen", True)]
