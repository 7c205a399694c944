"""Contract: what a cached computation does when items fail or a step breaks its protocol.

The first fresh error of a cached ``run_many`` stops the computation (that item cached
as an error, the items after it uncomputed until iteration reaches them); errors read
from the cache never stop new items; a ``_run_batch`` whose results cannot be matched
to its inputs caches nothing; calls with the wrong arity and ``MemoryError`` are never
cached; ``item_uid`` is called only where a cache needs the key, once per input.
"""

from __future__ import annotations

import typing as tp
from pathlib import Path

import pytest

from exca.steps import Chain, Step
from exca.steps.items import BatchProtocolError

CALLS: list[tp.Any] = []


class Failing(Step):
    bad: int = 3

    def _run(self, value: int) -> int:
        CALLS.append(value)
        if value == self.bad:
            raise ValueError(f"bad value {value}")
        return value + 10


class BatchFailing(Step):
    bad: int = 3

    def _run_batch(self, values: tp.Iterable[int]) -> tp.Iterator[int]:
        for value in values:
            CALLS.append(value)
            if value == self.bad:
                raise ValueError(f"bad value {value}")
            yield value + 10


class DropsFirst(Step):
    def _run_batch(self, values: tp.Iterable[int]) -> tp.Iterator[int]:
        yield from (value * 2 for value in list(values)[1:])


class YieldsExtra(Step):
    def _run_batch(self, values: tp.Iterable[int]) -> tp.Iterator[int]:
        yield from (value * 2 for value in values)
        yield 0


class Generator(Step):
    def _run(self) -> int:
        CALLS.append("gen")
        return 1


class OutOfMemory(Step):
    def _run(self, value: int) -> int:
        CALLS.append(value)
        raise MemoryError("no memory left")


class CountsUids(Step):
    def _run(self, value: int) -> int:
        return value

    def item_uid(self, value: tp.Any) -> str | None:
        CALLS.append(("uid", value))
        return f"item-{value}"


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    CALLS.clear()


def cached(folder: Path, **kwargs: tp.Any) -> tp.Any:
    return {"backend": "Cached", "folder": folder, **kwargs}


@pytest.mark.parametrize("cls", [Failing, BatchFailing])
def test_the_first_fresh_error_stops_the_computation_and_raises_when_reached(
    cls: type[Step], tmp_path: Path
) -> None:
    step = cls(infra=cached(tmp_path))
    items = iter(step.run_many([1, 2, 3, 4, 5]))
    assert CALLS == [1, 2, 3]  # nothing after the failure was computed
    assert [next(items), next(items)] == [11, 12]
    with pytest.raises(ValueError, match="bad value 3"):
        next(items)
    assert step.lookup(3).status == "error" and step.lookup(4).status is None
    assert list(items) == [14, 15]  # iterating on computes the rest
    assert CALLS == [1, 2, 3, 4, 5]


def test_iterating_past_each_error_computes_every_item_once(
    tmp_path: Path, outcomes: tp.Any
) -> None:
    step = Failing(bad=2, infra=cached(tmp_path))
    values = [1, 2, 3, 2, 4]
    assert outcomes(step.run_many(values)) == [11, "bad value 2", 13, "bad value 2", 14]
    assert CALLS == [1, 2, 3, 4]
    CALLS.clear()
    assert outcomes(Failing(bad=2, infra=cached(tmp_path)).run_many(values))[2:] == [
        13,
        "bad value 2",
        14,
    ]
    assert CALLS == []


def test_cached_errors_never_stop_new_items(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Failing(infra=cached(tmp_path)).run(3)
    CALLS.clear()
    items = iter(Failing(infra=cached(tmp_path)).run_many([3, 4, 5]))
    assert CALLS == [4, 5]
    with pytest.raises(ValueError, match="bad value 3"):
        next(items)
    assert list(items) == [14, 15]


def test_a_fresh_error_upstream_stops_every_cached_step_of_the_chain(tmp_path: Path) -> None:
    class Double(Step):
        def _run(self, value: int) -> int:
            CALLS.append(("double", value))
            return value * 2

    lazy = [1, ("double", 11), 3]  # an uncached step runs as the next one reads it
    for chain, order in [
        (
            Chain(steps=[Failing(infra=cached(tmp_path / "a")), Double(infra=cached(tmp_path))]),
            [1, 3, ("double", 11)],
        ),
        (Chain(steps=[Failing(), Double(infra=cached(tmp_path / "b"))]), lazy),
        (Chain(steps=[Failing(), Double()], infra=cached(tmp_path / "c")), lazy),
        (
            Chain(
                steps=[Failing(), Double(infra={"backend": "Cached"})], infra=cached(tmp_path / "d")
            ),
            lazy,
        ),
    ]:
        CALLS.clear()
        items = iter(chain.run_many([1, 3, 5]))
        assert CALLS == order
        assert next(items) == 22
        with pytest.raises(ValueError, match="bad value 3"):
            next(items)
        assert list(items) == [30] and CALLS[3:] == [5, ("double", 15)]


def test_force_recomputes_the_items_left_by_a_failure_when_reached(
    tmp_path: Path, outcomes: tp.Any
) -> None:
    assert list(Failing(bad=0, infra=cached(tmp_path)).run_many([1, 2, 3])) == [11, 12, 13]
    CALLS.clear()
    forced = Failing(bad=2, infra=cached(tmp_path, mode="force"))
    assert outcomes(forced.run_many([1, 2, 3])) == [11, "bad value 2", 13]
    assert CALLS == [1, 2, 3]


@pytest.mark.parametrize("cls", [DropsFirst, YieldsExtra])
def test_a_batch_whose_results_do_not_match_its_inputs_caches_nothing(
    cls: type[Step], tmp_path: Path
) -> None:
    step = cls(infra=cached(tmp_path))
    with pytest.raises(BatchProtocolError) as info:
        step.run_many([10, 20, 40])
    assert all(cls(infra=cached(tmp_path)).lookup(v).status is None for v in [10, 20, 40])
    notes = "\n".join(info.value.__notes__)
    assert "nothing of this batch is cached" in notes
    assert str(step.lookup(10).paths.cache_folder) in notes


def test_a_generator_given_an_input_raises_before_running_and_caches_nothing(
    tmp_path: Path,
) -> None:
    step = Generator(infra=cached(tmp_path))
    with pytest.raises(TypeError, match=r"Generator._run takes no input.*\(3\)"):
        step.run(3)
    assert CALLS == [] and step.lookup(3).status is None
    assert step.run() == 1


def test_a_step_that_needs_an_input_run_without_one_raises_and_caches_nothing(
    tmp_path: Path,
) -> None:
    step = Failing(infra=cached(tmp_path))
    with pytest.raises(TypeError, match="Failing._run needs an input"):
        step.run()
    assert CALLS == [] and step.lookup().status is None


def test_a_chain_step_that_takes_no_input_after_another_raises_before_running(
    tmp_path: Path,
) -> None:
    chain = Chain(steps=[Failing(), Generator()], infra=cached(tmp_path))
    with pytest.raises(TypeError, match="Generator._run takes no input, but it follows Failing"):
        chain.run(1)
    assert CALLS == []


def test_a_memory_error_is_raised_and_never_cached(tmp_path: Path) -> None:
    step = OutOfMemory(infra=cached(tmp_path))
    with pytest.raises(MemoryError):
        step.run(1)
    assert step.lookup(1).status is None
    with pytest.raises(MemoryError):
        OutOfMemory(infra=cached(tmp_path)).run(1)
    assert CALLS == [1, 1]


def test_item_uid_is_called_only_when_a_cache_needs_the_key(tmp_path: Path) -> None:
    assert list(CountsUids().run_many([1, 2, 1])) == [1, 2, 1]
    assert CountsUids().run(5) == 5
    assert CALLS == []


def test_a_run_without_cache_takes_inputs_that_have_no_canonical_encoding() -> None:
    class Opaque:
        pass

    inputs = [Opaque(), 7, Opaque(), 7]
    assert list(CountsUids().run_many(inputs)) == inputs and CALLS == []


def test_item_uid_is_called_once_per_input(tmp_path: Path) -> None:
    step = CountsUids(infra=cached(tmp_path))
    assert list(step.run_many([1, 2])) == [1, 2]
    assert CALLS == [("uid", 1), ("uid", 2)]
    CALLS.clear()
    assert step.run(3) == 3 and step.run(3) == 3  # a miss, then a hit of this instance
    assert CALLS == [("uid", 3), ("uid", 3)]


def test_items_left_by_a_failure_are_computed_in_batches_as_reached(
    tmp_path: Path, outcomes: tp.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exca.steps import _cellsource

    monkeypatch.setattr(_cellsource, "_RESUME", 2)
    step = BatchFailing(bad=2, infra=cached(tmp_path))
    values = list(range(1, 8))
    items = iter(step.run_many(values))
    assert CALLS == [1, 2]
    assert next(items) == 11
    with pytest.raises(ValueError, match="bad value 2"):
        next(items)
    assert next(items) == 13 and CALLS == [1, 2, 3, 4]  # the next batch of 2, not all
    assert outcomes(items) == [v + 10 for v in values[3:]] and CALLS == [1, 2, *values[2:]]
