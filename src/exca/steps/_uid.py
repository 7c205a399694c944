"""The uid config of a step: the part of its config that determines its results.

That is its discriminator, then every field that is not ``infra``, not listed by
``_exclude_from_cls_uid()`` and not left at its default (so adding a field with a
default keeps old caches valid). Nested steps contribute their own uid config, in
resolved form; a chain contributes the flat list of its steps.
"""

from __future__ import annotations

import typing as tp

import pydantic

from . import _graph
from ._state import state_of

if tp.TYPE_CHECKING:
    from .base import Step

__all__ = ["uid_config", "uid_steps", "full_config", "class_path", "json_dump"]


def uid_steps(step: Step) -> list[Step]:
    """The resolved leaf steps ``step`` stands for in a pipeline (a chain is its steps)."""
    from .chain import Chain

    step = _graph.resolved(step)
    if isinstance(step, Chain):
        return [leaf for sub in step._step_list() for leaf in uid_steps(sub)]
    return [step]


def uid_config(step: Step) -> dict[str, tp.Any]:
    """The uid config of ``step`` (memoized on the step, which gets frozen)."""
    from .chain import Chain

    step = _graph.resolved(step)
    state = state_of(step)
    if state.uid_config is None:
        _graph.freeze(step)
        cls = type(step)
        config: dict[str, tp.Any] = {cls._discriminator_key: cls.__name__}
        if isinstance(step, Chain):
            config["steps"] = [uid_config(leaf) for leaf in uid_steps(step)]
        else:
            config.update(_own_fields(step))
        state.uid_config = config
    return state.uid_config


def full_config(step: Step) -> dict[str, tp.Any]:
    """The config of ``step`` with its defaults, without infra (JSON-compatible)."""
    dumped = json_dump(_graph.resolved(step))
    return {name: _strip_infra(value) for name, value in dumped.items() if name != "infra"}


def class_path(step: Step) -> str:
    """``module:qualname`` of the (resolved) step's class: what tells apart two classes of
    one name, whose uid configs (and so step folders) are alike."""
    cls = type(_graph.resolved(step))
    return f"{cls.__module__}:{cls.__qualname__}"


def json_dump(step: Step) -> dict[str, tp.Any]:
    """``step.model_dump(mode="json")``, memoized once the step is frozen (do not mutate)."""
    state = state_of(step)
    if state.json_dump is None or not state.frozen:
        dumped = step.model_dump(mode="json")
        if not state.frozen:
            return dumped
        state.json_dump = dumped
    return state.json_dump


def _own_fields(step: Step) -> dict[str, tp.Any]:
    cls = type(step)
    excluded = {"infra", *step._exclude_from_cls_uid()}
    dumped = json_dump(step)
    out: dict[str, tp.Any] = {}
    for name, field in cls.model_fields.items():
        value = getattr(step, name)
        if name not in excluded and not _graph.is_model_default(field, value):
            out[name] = _uid_value(value, dumped[name])
    for name, value in (step.model_extra or {}).items():
        if name not in excluded:
            out[name] = _uid_value(value, dumped[name])
    return out


def _uid_value(value: object, dumped: object) -> object:
    """``dumped`` (the JSON dump of ``value``) with every nested step as its uid config."""
    from .base import Step

    if isinstance(value, Step):
        return uid_config(value)
    if isinstance(value, list | tuple) and isinstance(dumped, list):
        return [_uid_value(v, d) for v, d in zip(value, dumped, strict=True)]
    if isinstance(value, dict) and isinstance(dumped, dict):
        pairs = zip(value.values(), dumped.items(), strict=True)
        return {key: _uid_value(v, d) for v, (key, d) in pairs}
    if isinstance(value, pydantic.BaseModel) and isinstance(dumped, dict):  # a plain model
        values = _graph.model_values(value)
        return {key: _uid_value(values.get(key), d) for key, d in dumped.items()}
    return dumped


def _strip_infra(value: object) -> object:
    if isinstance(value, dict):
        return {k: _strip_infra(v) for k, v in value.items() if k != "infra"}
    if isinstance(value, list):
        return [_strip_infra(v) for v in value]
    return value
