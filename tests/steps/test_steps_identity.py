"""Contract: a step's cache identity is its config without infra, defaults or excluded
fields, prefixed by the steps before it; items are keyed once, at pipeline entry."""

from __future__ import annotations

import typing as tp
from pathlib import Path

import pytest

from exca.steps import Chain, Step, identity
from exca.store import step_folders


class IdMult(Step):
    coeff: float = 2.0
    label: str = "x"

    @classmethod
    def _exclude_from_cls_uid(cls) -> list[str]:
        return ["label"]

    def _run(self, value: float) -> float:
        return value * self.coeff


class IdAddWithTransforms(Step):
    value: int = 0
    transforms: list[Step] = []

    def _run(self, x: float) -> float:
        return x + self.value

    def _resolve_step(self) -> Step:
        if not self.transforms:
            return self
        return Chain(steps=[self.model_copy(update={"transforms": []}), *self.transforms])


class IdLongUid(Step):
    def _run(self, value: str) -> str:
        return value.upper()

    def item_uid(self, value: tp.Any) -> str | None:
        return str(value)


def _folder(step: Step, tmp_path: Path, value: tp.Any = 1.0) -> str:
    step = step.clone({"infra": {"backend": "Cached", "folder": tmp_path}})
    return str(step.lookup(value).paths.step_folder.relative_to(tmp_path))


def test_step_folder_is_readable_with_type_first_then_non_default_fields(tmp_path: Path) -> None:
    folder = _folder(IdMult(coeff=3), tmp_path)
    assert folder.startswith("type=IdMult,coeff=3-") and len(folder.split("-")[-1]) == 8
    assert _folder(IdMult(), tmp_path).startswith("type=IdMult-")


def test_defaults_infra_and_excluded_fields_do_not_change_identity(tmp_path: Path) -> None:
    reference = _folder(IdMult(), tmp_path)
    assert _folder(IdMult(coeff=2.0), tmp_path) == reference
    assert _folder(IdMult(label="other"), tmp_path) == reference
    forced = IdMult(infra={"backend": "Cached", "folder": tmp_path, "mode": "force"})  # type: ignore[arg-type]
    assert str(forced.lookup(1.0).paths.step_folder.relative_to(tmp_path)) == reference
    assert _folder(IdMult(coeff=3), tmp_path) != reference


def test_cells_are_nested_per_prefix_and_a_chain_shares_its_last_step_cell(
    tmp_path: Path,
) -> None:
    chain = Chain(steps=[IdMult(coeff=3), IdMult(coeff=5)])
    folder = _folder(chain, tmp_path)
    first, second = folder.split("/")
    assert first.startswith("type=IdMult,coeff=3-") and second.startswith("type=IdMult,coeff=5-")
    assert folder != _folder(IdMult(coeff=5), tmp_path)  # same step, other upstream
    assert (
        _folder(Chain(steps=[Chain(steps=[IdMult(coeff=3)]), IdMult(coeff=5)]), tmp_path) == folder
    )


def test_resolved_form_drives_identity(tmp_path: Path) -> None:
    composite = IdAddWithTransforms(value=5, transforms=[IdMult(coeff=3)])
    explicit = Chain(steps=[IdAddWithTransforms(value=5), IdMult(coeff=3)])
    assert _folder(Chain(steps=[composite]), tmp_path) == _folder(explicit, tmp_path)


def test_chain_lookup_of_a_sub_step_addresses_it_on_its_own(tmp_path: Path) -> None:
    chain = Chain(
        steps=[IdMult(coeff=3), IdMult(coeff=5)],
        infra={"backend": "Cached", "folder": tmp_path},  # type: ignore[arg-type]
    )
    alone = chain[1].lookup(1.0)
    assert alone.status is None and alone._cell is None  # no infra of its own
    after = chain[1].lookup(1.0, _upstream=[chain[0]])
    assert after._cell is None  # still no infra, but the position is accepted


def test_item_keys_are_type_tagged(tmp_path: Path) -> None:
    step = IdMult()
    keys = {identity.item_key(step, v) for v in (5, 5.0, True, [1, 2], (1, 2), {1, 2}, "x", b"x")}
    assert len(keys) == 8
    assert identity.item_key(step, identity.NoValue()) == identity.NO_INPUT_KEY


def test_item_keys_of_many_values_are_their_item_keys() -> None:
    values = [5, 5.0, "x", (1, 2), "a" * 300]
    for step, more in ((IdMult(), [identity.NoValue()]), (IdLongUid(), [])):
        assert identity.item_keys(step, values + more) == [
            identity.item_key(step, v) for v in values + more
        ]


def test_long_custom_uids_are_shortened_without_collisions() -> None:
    step = IdLongUid()
    a, b = "a" * 300 + "1", "a" * 300 + "2"
    ka, kb = identity.item_key(step, a), identity.item_key(step, b)
    assert len(ka) == len(kb) == Step._ITEM_UID_MAX_LENGTH and ka != kb
    assert identity.item_key(step, "short") == "short"


def test_very_long_pipelines_get_a_shortened_cell_path(tmp_path: Path) -> None:
    chain = Chain(steps=[IdMult(coeff=float(i)) for i in range(60)])
    folder = _folder(chain, tmp_path)
    assert len(folder) <= step_folders.MAX_CELL_PATH_LENGTH
    other = _folder(Chain(steps=[IdMult(coeff=float(i)) for i in range(61)]), tmp_path)
    assert other != folder


def test_custom_item_uid_for_no_value_requires_a_pure_generator() -> None:
    class Colocated(Step):
        subject: str = "s1"

        def _run(self, value: tp.Any = None) -> str:
            return self.subject

        def item_uid(self, value: tp.Any) -> str | None:
            return self.subject

    with pytest.raises(TypeError, match="optional input"):
        identity.item_key(Colocated(), identity.NoValue())


class IdUnion(Step):
    value: int | float | bool = 0

    def _run(self, x: int) -> str:
        return f"{type(self.value).__name__}:{x}"


class IdIntDefault(Step):
    lr: float = 1  # (pydantic does not convert a default: the int 1 by default)

    def _run(self, x: int) -> float:
        return self.lr * x


def test_values_equal_to_a_default_but_of_another_type_are_other_configs(tmp_path: Path) -> None:
    infra = {"backend": "Cached", "folder": tmp_path}
    results = [IdUnion(value=v, infra=infra).run(1) for v in (0, False, 0.0)]
    assert results == ["int:1", "bool:1", "float:1"] and IdUnion(infra=infra).run(1) == "int:1"
    folders = [_folder(IdUnion(value=v), tmp_path) for v in (0, False, 0.0)]
    assert folders[0] == _folder(IdUnion(), tmp_path) and len(set(folders)) == 3
    default, given = IdIntDefault(infra=infra).run(2), IdIntDefault(lr=1, infra=infra).run(2)
    assert (type(default), type(given)) == (int, float)  # two computations, two results
