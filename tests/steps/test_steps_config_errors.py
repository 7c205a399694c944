"""Contract: a config error anywhere in a pipeline names its place as the user wrote it
(``pre.steps.1.coeff``), once, without pydantic's internal schema names or the errors of
union branches that do not apply, and keeps the missing-discriminator hint."""

from __future__ import annotations

import collections
import typing as tp

import pydantic
import pytest

from exca.steps import Chain, Step


class Coeff(Step):
    coeff: float = 1.0

    def _run(self, value: float) -> float:
        return value * self.coeff


class Job(pydantic.BaseModel):
    pre: Step


def only_error(config: tp.Any) -> tuple[tuple[int | str, ...], str, str]:
    """(loc, message, whole text) of the one error validating ``config`` as a Job."""
    with pytest.raises(pydantic.ValidationError) as info:
        Job.model_validate(config)
    errors = info.value.errors()
    assert len(errors) == 1, info.value
    text = str(info.value)
    assert "[" not in text.splitlines()[1]  # no json-or-python[...], ordered-dict[...]
    assert "OrderedDict" not in text and "Sequence" not in text
    return errors[0]["loc"], errors[0]["msg"], text


@pytest.mark.parametrize(
    ("config", "loc"),
    [
        ({"pre": [{"type": "Coeff"}, {"type": "Coeff", "coeff": "abc"}]}, ("pre", "steps", 1)),
        (
            {"pre": {"a": {"type": "Coeff"}, "b": {"type": "Coeff", "coeff": "x"}}},
            ("pre", "steps", "b"),
        ),
        (
            {"pre": [[{"type": "Coeff", "coeff": "x"}], {"type": "Coeff"}]},
            ("pre", "steps", 0, "steps", 0),
        ),
    ],
    ids=["list", "named", "nested"],
)
def test_a_bad_field_inside_a_chain_is_named_by_its_path(
    config: dict[str, tp.Any], loc: tuple[int | str, ...]
) -> None:
    found, message, text = only_error(config)
    assert found == (*loc, "coeff")
    assert message.startswith("Input should be a valid number")
    assert f"{'.'.join(map(str, found))}\n  Input should be a valid number" in text


def test_a_step_without_its_discriminator_inside_a_chain_gets_the_hint() -> None:
    loc, message, _ = only_error({"pre": [{"type": "Coeff"}, {"coeff": 3}]})
    assert loc == ("pre", "steps", 1)
    assert "did you forget the discriminator key 'type'?" in message and "Coeff" in message


def test_clone_of_a_named_chain_reports_the_bad_update_only() -> None:
    chain = Chain(steps=collections.OrderedDict(g=Coeff(coeff=2), h=Coeff()))
    for update, expected in [
        ({"steps.g.fctr": 5}, "Extra inputs are not permitted"),
        ({"steps.g.coeff": "zz"}, "Input should be a valid number"),
    ]:
        with pytest.raises(pydantic.ValidationError) as info:
            chain.clone(update)
        (error,) = info.value.errors()
        assert error["loc"] == ("steps", "g", next(iter(update)).rpartition(".")[2])
        assert error["msg"].startswith(expected) and "Sequence" not in str(info.value)
