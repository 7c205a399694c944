"""Contract: Step and Chain configs validate, dispatch, freeze, clone, show and pickle as in exca 0.6.0."""

from __future__ import annotations

import collections
import pickle
import typing as tp

import pydantic
import pytest

from exca.steps import Chain, Step, backends


class CfgMult(Step):
    coeff: float = 2.0

    def _run(self, value: float) -> float:
        return value * self.coeff


class CfgGen(Step):
    n: int = 3

    def _run(self) -> float:
        return float(self.n)


class CfgHolder(pydantic.BaseModel):
    pipeline: Step


class TreeStep(Step, discriminator_key="name"):
    pass


class TreeChain(Chain, TreeStep):
    pass


class TreeAdd(TreeStep):
    x: int = 1

    def _run(self, value: int) -> int:
        return value + self.x


class TreeHolder(pydantic.BaseModel):
    pipeline: TreeStep


def test_dict_with_type_key_validates_to_the_named_subclass_and_dumps_type_first() -> None:
    step = Step.model_validate({"type": "CfgMult", "coeff": 3})
    assert type(step) is CfgMult and step.coeff == 3.0
    assert list(step.model_dump()) == ["type", "infra", "coeff"]
    assert type(Step(type="CfgMult", coeff=3)) is CfgMult  # type: ignore[call-arg]


def test_unknown_type_lists_known_names_and_missing_key_gets_a_hint() -> None:
    with pytest.raises(ValueError, match=r"unknown type 'Nope'.*CfgMult"):
        CfgHolder(pipeline={"type": "Nope"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="forget the discriminator key 'type'"):
        CfgHolder(pipeline={"coeff": 3})  # type: ignore[arg-type]


def test_extra_fields_are_forbidden() -> None:
    with pytest.raises(pydantic.ValidationError, match="coef"):
        CfgMult(coef=3)  # type: ignore[call-arg]


def test_a_list_where_a_step_is_expected_becomes_a_chain_recursively() -> None:
    cfg = CfgHolder(pipeline=[{"type": "CfgMult"}, [{"type": "CfgMult", "coeff": 3}]])  # type: ignore[arg-type]
    assert type(cfg.pipeline) is Chain
    assert isinstance(cfg.pipeline, Chain) and type(cfg.pipeline[1]) is Chain
    assert cfg.pipeline.run(1.0) == 6.0
    assert CfgHolder.model_validate(cfg.model_dump()).pipeline == cfg.pipeline


def test_a_dict_of_steps_becomes_a_named_chain() -> None:
    cfg = CfgHolder(pipeline={"a": {"type": "CfgMult"}, "b": CfgMult(coeff=5)})  # type: ignore[arg-type]
    chain = cfg.pipeline
    assert isinstance(chain, Chain) and isinstance(chain.steps, collections.OrderedDict)
    assert chain["b"].coeff == 5  # type: ignore[attr-defined]
    assert chain.run(1.0) == 10.0


def test_empty_chain_raises_and_indexing_len_and_slicing_work() -> None:
    with pytest.raises(ValueError, match="cannot be empty"):
        Chain(steps=[])
    infra = {"backend": "Cached", "folder": "/tmp/x"}
    chain = Chain(steps=[CfgMult(coeff=1), CfgMult(coeff=2), CfgMult(coeff=3)], infra=infra)  # type: ignore[arg-type]
    assert len(chain) == 3 and chain[-1].coeff == 3  # type: ignore[attr-defined]
    part = chain[1:]
    assert type(part) is Chain and len(part) == 2 and part.infra == chain.infra
    with pytest.raises(TypeError, match="unnamed steps"):
        chain["a"]


def test_custom_hierarchy_converts_lists_to_its_own_chain_class() -> None:
    cfg = TreeHolder(pipeline=[{"name": "TreeAdd", "x": 2}, {"name": "TreeAdd", "x": 3}])  # type: ignore[arg-type]
    assert type(cfg.pipeline) is TreeChain
    assert cfg.pipeline.run(1) == 6
    assert cfg.pipeline.model_dump()["name"] == "TreeChain"
    assert TreeHolder.model_validate(cfg.model_dump()).pipeline == cfg.pipeline


def test_generator_and_transformer_are_told_apart_from_the_run_signature() -> None:
    assert CfgGen()._is_generator() and not CfgMult()._is_generator()
    assert Chain(steps=[CfgGen(), CfgMult()])._is_generator()
    assert CfgGen().run() == 3.0


def test_none_is_a_valid_input_distinct_from_no_input() -> None:
    class EchoNone(Step):
        def _run(self, value: tp.Any = "absent") -> tp.Any:
            return value

    assert EchoNone().run() == "absent"
    assert EchoNone().run(None) is None


def test_a_step_class_that_computes_nothing_raises_type_error() -> None:
    class Nothing(Step):
        pass

    with pytest.raises(TypeError, match="must override _run"):
        Nothing()


def test_infra_dicts_dispatch_on_backend_and_instances_are_copied_per_step() -> None:
    step = CfgMult(infra={"backend": "Slurm", "partition": "gpu"})  # type: ignore[arg-type]
    assert isinstance(step.infra, backends.Slurm) and step.infra.partition == "gpu"
    shared = backends.Cached(folder="/tmp/x")  # type: ignore[arg-type]
    a, b = CfgMult(infra=shared), CfgMult(infra=shared)
    assert a.infra is not b.infra and a.infra is not shared and a.infra == shared


def test_a_class_default_infra_keeps_its_fields_under_a_user_dict() -> None:
    class Heavy(Step):
        infra: backends.Backend | None = backends.Cached(keep_in_ram=True, mode="force")

        def _run(self, value: int) -> int:
            return value

    step = Heavy(infra={"backend": "LocalProcess", "folder": "/tmp/x"})  # type: ignore[arg-type]
    assert isinstance(step.infra, backends.LocalProcess)
    assert step.infra.keep_in_ram and step.infra.mode == "force"


def test_folder_propagates_to_nested_steps_that_have_infra_without_folder() -> None:
    inner = CfgMult(infra={"backend": "Cached"})  # type: ignore[arg-type]
    bare = CfgMult(coeff=3)
    chain = Chain(steps=[inner, bare], infra={"backend": "Cached", "folder": "/tmp/f"})  # type: ignore[arg-type]
    assert str(chain[0].infra.folder) == "/tmp/f"  # type: ignore[union-attr]
    assert chain[1].infra is None


def test_infra_without_folder_raises_a_clear_error_at_run_time() -> None:
    with pytest.raises(RuntimeError, match="no folder"):
        CfgMult(infra={"backend": "Cached"}).run(1.0)  # type: ignore[arg-type]


def test_a_step_is_frozen_after_run_and_clone_returns_an_unfrozen_copy() -> None:
    step = CfgMult(coeff=3)
    step.coeff = 4  # not run yet: assignable
    assert step.run(1.0) == 4.0
    with pytest.raises(RuntimeError, match="frozen"):
        step.coeff = 5
    clone = step.clone(coeff=5)
    clone.coeff = 6
    assert clone.run(1.0) == 6.0 and step.coeff == 4


def test_clone_applies_dotted_updates_including_named_chain_steps() -> None:
    chain = Chain(
        steps={"a": CfgMult(), "scale": CfgMult(coeff=3)},  # type: ignore[arg-type]
        infra={"backend": "Cached", "folder": "/tmp/x"},  # type: ignore[arg-type]
    )
    clone = chain.clone({"steps.scale.coeff": 4.0, "infra.mode": "force"})
    assert clone["scale"].coeff == 4.0 and clone.infra.mode == "force"  # type: ignore[attr-defined,union-attr]
    assert chain["scale"].coeff == 3.0  # type: ignore[attr-defined]
    listed = Chain(steps=[CfgMult(), CfgMult()]).clone({"steps.1.coeff": 7.0})
    assert listed[1].coeff == 7.0  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="one dict"):
        chain.clone({"a": 1}, coeff=2)


def test_show_renders_a_tree_with_non_default_fields_and_backends() -> None:
    chain = Chain(
        steps={"a": CfgGen(), "scale": CfgMult(coeff=3)},  # type: ignore[arg-type]
        infra={"backend": "Cached", "folder": "/tmp/x"},  # type: ignore[arg-type]
    )
    assert chain.show() == (
        "Chain  [Cached, /tmp/x]\n└── steps\n    ├── a: CfgGen\n    └── scale: CfgMult  coeff=3.0"
    )


def test_equality_compares_configs_and_ignores_runtime_state() -> None:
    assert CfgMult(coeff=3) == CfgMult(coeff=3.0)
    assert CfgMult(coeff=3) != CfgMult(coeff=3, infra={"backend": "Cached"})  # type: ignore[arg-type]
    ran = CfgMult(coeff=3)
    ran.run(1.0)
    assert ran == CfgMult(coeff=3)


def test_pickling_gives_an_equal_step_with_fresh_runtime_state() -> None:
    step = CfgMult(coeff=3, infra={"backend": "Cached", "folder": "/tmp/x"})  # type: ignore[arg-type]
    step.lookup(1.0)
    copy = pickle.loads(pickle.dumps(step))
    assert copy == step
    copy.coeff = 4  # not frozen: a fresh runtime state
    assert copy.infra is not None and copy.infra._store is None


def test_resolve_step_is_followed_to_a_fixed_point() -> None:
    class WithTransforms(Step):
        transforms: list[Step] = []

        def _run(self, value: float) -> float:
            return value + 1

        def _resolve_step(self) -> Step:
            if not self.transforms:
                return self
            return Chain(steps=[self.model_copy(update={"transforms": []}), *self.transforms])

    step = WithTransforms(transforms=[CfgMult(coeff=10)])
    assert step.run(1.0) == 20.0
    assert "WithTransforms" in step.show() and "CfgMult" in step.show()


def test_a_user_step_class_builds_its_validators_when_defined() -> None:
    # like any pydantic model (and exca 0.6.0): the first instance costs no schema build,
    # and a mistake in the annotations shows at the class statement
    assert CfgMult.__pydantic_complete__

    with pytest.raises(pydantic.PydanticSchemaGenerationError, match="Unsupported"):

        class Unsupported:
            pass

        class WithBadField(Step):
            thing: Unsupported

            def _run(self, value: float) -> float:
                return value


def test_a_user_step_class_naming_a_class_defined_later_is_completed_on_first_use() -> None:
    assert EarlyStep(later={"size": 3}).later == LaterModel(size=3)
    assert EarlyStep.__pydantic_complete__


class EarlyStep(Step):  # names a class defined below: completed on first use
    later: LaterModel | None = None

    def _run(self, value: float) -> float:
        return value


assert not EarlyStep.__pydantic_complete__


class LaterModel(pydantic.BaseModel):
    size: int = 1
