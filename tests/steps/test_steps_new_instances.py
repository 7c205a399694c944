"""Contract: ``run(x)`` on a new step instance (read straight from its cell, the cell's
identity remembered per process) serves exactly what the full path would: the result
of its own config, its own input and its own folder, never another's that compares
equal (``1 == 1.0 == True``, ``0.0 == -0.0``), and takes the full path for everything
that is not a stored success (misses, cached errors, damaged records, other modes)."""

from __future__ import annotations

import logging
import typing as tp
from pathlib import Path

import pytest

from exca.steps import Step

CALLS: list[tuple[str, tp.Any]] = []
Scalar = int | float | bool | str | None


class Tagged(Step):
    """Its result names its config and its input: a result served for another config
    or another input shows."""

    value: Scalar = "unset"  # (equal to none of the values below: a field equal to its
    factor: float = 1.0  # default is left out of the identity, as in exca 0.6.0)

    def _run(self, x: tp.Any) -> tuple[str, str, str]:
        CALLS.append((repr(self.value), x))
        return (type(self.value).__name__, repr(self.value), f"{x!r}*{self.factor!r}")


class Listed(Step):
    values: list[int] = []

    def _run(self, x: int) -> list[int]:
        CALLS.append((repr(self.values), x))
        return [v * x for v in self.values]


class Failing(Step):
    def _run(self, x: int) -> int:
        CALLS.append(("failing", x))
        raise ValueError(f"no result for {x}")


@pytest.fixture(autouse=True)
def _no_calls() -> None:
    CALLS.clear()


def _tagged(folder: Path, mode: str = "cached", **fields: tp.Any) -> Tagged:
    return Tagged(**fields, infra={"backend": "Cached", "folder": folder, "mode": mode})


EQUAL_BUT_DIFFERENT: list[Scalar] = [1, 1.0, True, "1", 0, 0.0, -0.0, False, None, ""]


def test_configs_that_compare_equal_but_differ_never_share_a_result(tmp_path: Path) -> None:
    assert [type(_tagged(tmp_path, value=v).value) for v in EQUAL_BUT_DIFFERENT] == [
        type(v) for v in EQUAL_BUT_DIFFERENT
    ]  # (the union keeps each value's own type: else this test would prove nothing)
    for value in EQUAL_BUT_DIFFERENT:  # computed once each, on an instance of its own
        _tagged(tmp_path, value=value).run(2)
    assert len(CALLS) == len(EQUAL_BUT_DIFFERENT)
    for _ in range(2):  # new instances, in both orders: each serves its own config's
        for value in [*EQUAL_BUT_DIFFERENT, *reversed(EQUAL_BUT_DIFFERENT)]:
            expected = (type(value).__name__, repr(value), "2*1.0")
            assert _tagged(tmp_path, value=value).run(2) == expected
    assert len(CALLS) == len(EQUAL_BUT_DIFFERENT)  # every later run was a hit


def test_a_negative_zero_float_field_is_another_config_than_zero(tmp_path: Path) -> None:
    assert _tagged(tmp_path, factor=0.0).run(1) == ("str", "'unset'", "1*0.0")
    assert _tagged(tmp_path, factor=-0.0).run(1) == ("str", "'unset'", "1*-0.0")
    assert _tagged(tmp_path, factor=-0.0).run(1) == ("str", "'unset'", "1*-0.0")
    assert _tagged(tmp_path, factor=0.0).run(1) == ("str", "'unset'", "1*0.0")
    assert len(CALLS) == 2


def test_inputs_that_compare_equal_but_differ_never_share_a_result(tmp_path: Path) -> None:
    inputs: list[tp.Any] = [1, 1.0, True, (1, 2), [1, 2], "1"]
    for x in inputs:
        _tagged(tmp_path).run(x)
    for x in [*inputs, *reversed(inputs)]:
        assert _tagged(tmp_path).run(x) == ("str", "'unset'", f"{x!r}*1.0")
    assert len(CALLS) == len(inputs)


def test_a_field_holding_a_list_is_keyed_by_its_whole_value(tmp_path: Path) -> None:
    def listed(values: list[int]) -> Listed:
        return Listed(values=values, infra={"backend": "Cached", "folder": tmp_path})

    assert listed([1, 2]).run(3) == [3, 6]
    assert listed([1, 3]).run(3) == [3, 9]
    assert listed([1, 2]).run(3) == [3, 6] and listed([1, 3]).run(3) == [3, 9]
    assert len(CALLS) == 2


def test_the_same_config_in_another_folder_serves_that_folders_result(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, stored in ((first, "from first"), (second, "from second")):
        handle = _tagged(folder).lookup(4)
        handle.cache_dict[handle.uid] = stored
    for _ in range(2):
        assert _tagged(first).run(4) == "from first"
        assert _tagged(second).run(4) == "from second"
    assert CALLS == []


def test_a_new_instance_in_force_mode_recomputes_a_stored_result(tmp_path: Path) -> None:
    _tagged(tmp_path).run(5)
    _tagged(tmp_path, mode="force").run(5)
    assert _tagged(tmp_path).run(5) == ("str", "'unset'", "5*1.0")
    assert len(CALLS) == 2


def test_a_new_instance_reraises_a_cached_error_and_retry_recomputes_it(tmp_path: Path) -> None:
    def failing(mode: str = "cached") -> Failing:
        return Failing(infra={"backend": "Cached", "folder": tmp_path, "mode": mode})

    for _ in range(2):
        with pytest.raises(ValueError, match="no result for 6"):
            failing().run(6)
    assert len(CALLS) == 1  # the second raised the cached error
    with pytest.raises(ValueError, match="no result for 6"):
        failing("retry").run(6)
    assert len(CALLS) == 2


def test_a_new_instance_in_read_only_mode_raises_on_a_miss_and_serves_a_hit(
    tmp_path: Path,
) -> None:
    with pytest.raises(RuntimeError, match="read-only"):
        _tagged(tmp_path, mode="read-only").run(7)
    _tagged(tmp_path).run(7)
    assert _tagged(tmp_path, mode="read-only").run(7) == ("str", "'unset'", "7*1.0")
    assert len(CALLS) == 1


def test_a_damaged_record_read_by_new_instances_warns_once_and_is_recomputed_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inputs = list(range(20))
    list(_tagged(tmp_path).run_many(inputs))  # (one pack)
    (pack,) = tmp_path.rglob("*.pack")
    data = bytearray(pack.read_bytes())
    data[-2] ^= 0xFF  # a byte of the last record
    pack.chmod(0o644)
    pack.write_bytes(bytes(data))
    CALLS.clear()
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            assert [_tagged(tmp_path).run(x) for x in inputs] == [
                ("str", "'unset'", f"{x!r}*1.0") for x in inputs
            ]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "cannot be trusted" in warnings[0].getMessage()
    assert len(CALLS) == 1


def test_a_class_redefined_with_another_default_is_refused_on_a_new_instance(
    tmp_path: Path,
) -> None:
    def define(default: float) -> type[Step]:
        class Scaled(Step):
            coeff: float = default

            def _run(self, x: float) -> float:
                return x * self.coeff

        return Scaled

    old = define(2.0)
    assert old(infra={"backend": "Cached", "folder": tmp_path}).run(1.0) == 2.0
    assert old(infra={"backend": "Cached", "folder": tmp_path}).run(1.0) == 2.0
    new = define(3.0)
    with pytest.raises(Exception, match="coeff"):
        new(infra={"backend": "Cached", "folder": tmp_path}).run(1.0)
