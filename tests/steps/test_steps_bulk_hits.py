"""Contract: ``run_many`` over cached items reads them in blocks while iterating, and gives
exactly what one-by-one reads give: order, duplicates, cached errors, damaged values."""

from __future__ import annotations

import logging
import typing as tp
from pathlib import Path

import numpy as np
import pytest

from exca.steps import Step
from exca.store import Namespace, mapped

CALLS: list[tp.Any] = []


class BulkMult(Step):
    coeff: float = 3.0

    def _run(self, value: tp.Any) -> tp.Any:
        CALLS.append(value)
        if isinstance(value, int) and value < 0:
            raise ValueError(f"negative {value}")
        return value * self.coeff


def cached(folder: Path, **kwargs: tp.Any) -> dict[str, tp.Any]:
    return {"backend": "Cached", "folder": folder, **kwargs}


@pytest.fixture
def blocks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the blocks read at once (``Namespace.load_inline`` or ``load_many``)."""
    sizes: list[int] = []
    load_many, load_inline = Namespace.load_many, Namespace.load_inline

    def many(self: Namespace, entries: tp.Any, keep_in_ram: bool = False) -> list[tp.Any]:
        sizes.append(len(entries))
        return load_many(self, entries, keep_in_ram)

    def inline(self: Namespace, found: tp.Any, keys: tp.Any) -> list[tp.Any] | None:
        values = load_inline(self, found, keys)
        if values is not None:
            sizes.append(len(values))
        return values

    monkeypatch.setattr(Namespace, "load_many", many)
    monkeypatch.setattr(Namespace, "load_inline", inline)
    CALLS.clear()
    return sizes


def test_cached_items_stream_in_bounded_blocks_as_iteration_proceeds(
    tmp_path: Path, blocks: list[int]
) -> None:
    values = list(range(600))
    assert list(BulkMult(infra=cached(tmp_path)).run_many(values)) == [v * 3.0 for v in values]
    CALLS.clear()
    blocks.clear()
    iterator = iter(BulkMult(infra=cached(tmp_path)).run_many(values))
    assert next(iterator) == 0.0
    assert len(blocks) == 1 and blocks[0] <= 256  # nothing read beyond the first block
    assert list(iterator) == [v * 3.0 for v in values[1:]]
    assert sum(blocks) == 600 and max(blocks) <= 256 and CALLS == []


def test_a_cached_error_inside_a_block_raises_at_its_place_and_iteration_goes_on(
    tmp_path: Path, blocks: list[int]
) -> None:
    values = [1, 2, -3, 4]
    list(BulkMult(infra=cached(tmp_path)).run_many([1, 2, 4]))
    with pytest.raises(ValueError, match="negative -3"):
        list(BulkMult(infra=cached(tmp_path)).run_many(values))
    CALLS.clear()
    iterator = iter(BulkMult(infra=cached(tmp_path)).run_many(values))
    assert [next(iterator), next(iterator)] == [3.0, 6.0]
    with pytest.raises(ValueError, match="negative -3") as info:
        next(iterator)
    assert any("reraised from cache" in note for note in info.value.__notes__)
    assert next(iterator) == 12.0 and CALLS == []


def test_a_damaged_value_in_a_block_is_recomputed_alone_with_one_warning(
    tmp_path: Path, blocks: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    values = list(range(20))
    step = BulkMult(infra=cached(tmp_path))
    list(step.run_many(values))
    namespace = step.lookup(5).cache_dict.namespace
    key = step.lookup(5).uid
    entry = namespace.entry(key)
    assert entry is not None and entry.inline is not None
    with namespace.batch():  # a record whose checksum holds but whose payload is garbage
        namespace._publish(entry._replace(inline=b"\xc1"))
    CALLS.clear()
    with caplog.at_level(logging.WARNING):
        out = list(BulkMult(infra=cached(tmp_path)).run_many(values))
    assert out == [v * 3.0 for v in values] and CALLS == [5]
    assert sum("damaged" in r.message for r in caplog.records) == 1


def test_duplicates_arrays_and_ram_caches_read_back_as_one_by_one(
    tmp_path: Path, blocks: list[int]
) -> None:
    arrays = [np.full(3000, i, dtype=np.float64) for i in range(3)]  # stored as objects
    values: list[tp.Any] = [1, 2, 1, *arrays, 2.5, 1]
    expected = list(BulkMult(infra=cached(tmp_path)).run_many(values))
    for infra in (cached(tmp_path), cached(tmp_path, keep_in_ram=True)):
        CALLS.clear()
        out = list(BulkMult(infra=infra).run_many(values))
        assert CALLS == [] and len(out) == len(expected)
        for got, want in zip(out, expected, strict=True):
            assert np.array_equal(got, want)
    ram = BulkMult(infra=cached(tmp_path, keep_in_ram=True))
    first = list(ram.run_many(values[:3]))
    assert list(ram.run_many(values[:3]))[0] is first[0]  # served from RAM the second time


def test_modes_over_many_items_recompute_what_they_should(tmp_path: Path, outcomes: tp.Any) -> None:
    values = [-1, *range(1, 20), -2]
    outcomes(BulkMult(infra=cached(tmp_path)).run_many(values))
    CALLS.clear()
    retry = BulkMult(infra=cached(tmp_path, mode="retry"))  # the two cached errors only, once
    assert outcomes(retry.run_many(values)) == outcomes(retry.run_many(values))
    assert CALLS == [-1, -2]
    CALLS.clear()
    forced = BulkMult(infra=cached(tmp_path, mode="force"))
    assert list(forced.run_many(values[1:-1])) == [v * 3.0 for v in values[1:-1]]
    assert CALLS == values[1:-1]
    with pytest.raises(RuntimeError, match="read-only"):
        BulkMult(infra=cached(tmp_path, mode="read-only")).run_many([*values[1:-1], 100])
    reader = BulkMult(infra=cached(tmp_path, mode="read-only"))
    assert list(reader.run_many(values[1:-1])) == [v * 3.0 for v in values[1:-1]]


def test_failures_inside_a_large_block_raise_in_place_and_iteration_goes_on(
    tmp_path: Path, outcomes: tp.Any
) -> None:
    values = [*range(1, 10), -1, *range(10, 20), -2, 20]
    outcomes(BulkMult(infra=cached(tmp_path)).run_many(values))
    CALLS.clear()
    out: list[tp.Any] = []
    iterator = iter(BulkMult(infra=cached(tmp_path)).run_many(values))
    for _ in values:
        try:
            out.append(next(iterator))
        except ValueError as error:
            out.append(str(error))
    assert out == [v * 3.0 if v > 0 else f"negative {v}" for v in values] and CALLS == []
    with pytest.raises(StopIteration):
        next(iterator)


def test_an_unexpected_error_while_reading_ends_the_iteration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exca.steps import _cells, _cellsource

    values = [np.full(3000, float(i)) for i in range(12)]  # objects
    list(BulkMult(infra=cached(tmp_path)).run_many(values))
    keys = [BulkMult(infra=cached(tmp_path)).lookup(v).uid for v in values]
    real_read = _cells.Cell.read

    def failing(self: tp.Any, entry: tp.Any, reader: tp.Any = None) -> tp.Any:
        if entry.key == keys[5]:
            raise OSError("disk gone")
        return real_read(self, entry, reader)

    monkeypatch.setattr(_cellsource, "_BLOCK", 4)
    monkeypatch.setattr(_cells.Cell, "read", failing)
    mapped.clear()  # (as a new process: no map kept, so the arrays are read one by one)
    iterator = iter(BulkMult(infra=cached(tmp_path)).run_many(values))
    for value in values[:5]:
        assert np.array_equal(next(iterator), value * 3.0)
    with pytest.raises(OSError, match="disk gone"):
        next(iterator)
    assert list(iterator) == []  # as a generator's: nothing after an unexpected error
