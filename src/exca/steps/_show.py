"""Text tree of a step for humans (``Step.show()``); the format is not stable."""

from __future__ import annotations

import typing as tp

import pydantic

from . import _graph

if tp.TYPE_CHECKING:
    from .base import Step

_MAX_VALUE_LENGTH = 40


def render(step: Step) -> str:
    return "\n".join(_lines(step))


def _lines(step: Step) -> list[str]:
    step = _graph.resolved(step)
    children: list[tuple[str, list[str]]] = []
    expanded: set[str] = set()  # fields shown as sub-trees, not in the label
    for name in type(step).model_fields:
        value = getattr(step, name)
        if name != "infra" and _holds_steps(value):
            children.append(_child(name, value))
            expanded.add(name)
    return [_label(step, expanded)] + _tree(children)


def _label(step: Step, skip: set[str]) -> str:
    parts = [type(step).__name__]
    dumped = step.model_dump(mode="json", exclude_defaults=True)
    for name, value in dumped.items():
        if name not in skip | {"infra", type(step)._discriminator_key}:
            parts.append(f"{name}={_shorten(repr(value))}")
    infra = step.infra
    if infra is not None:
        folder = "" if infra.folder is None else f", {infra.folder}"
        parts.append(f"[{type(infra).__name__}{folder}]")
    return "  ".join(parts)


def _child(name: str, value: tp.Any) -> tuple[str, list[str]]:
    """Head line and sub-tree lines of a field (or item) holding steps."""
    from .base import Step

    if isinstance(value, Step):
        head, *rest = _lines(value)
        return f"{name}: {head}" if name else head, rest
    if isinstance(value, pydantic.BaseModel):  # a plain model: its other fields on its line
        values = _graph.model_values(value)
        dumped = value.model_dump(mode="json", exclude_defaults=True)
        plain = {k: v for k, v in dumped.items() if not _holds_steps(values.get(k))}
        name, value = (f"{name}  {_shorten(repr(plain))}" if plain else name), values
    items = value.items() if isinstance(value, dict) else (("", v) for v in value)
    subs = [_child(str(key), item) for key, item in items if _holds_steps(item)]
    return name, _tree(subs)


def _tree(children: list[tuple[str, list[str]]]) -> list[str]:
    lines: list[str] = []
    for index, (head, rest) in enumerate(children):
        last = index == len(children) - 1
        lines.append(("└── " if last else "├── ") + head)
        lines.extend(("    " if last else "│   ") + line for line in rest)
    return lines


def _holds_steps(value: tp.Any) -> bool:
    from .base import Step

    if isinstance(value, Step):
        return True
    if isinstance(value, dict):
        return any(_holds_steps(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_steps(v) for v in value)
    if isinstance(value, pydantic.BaseModel):
        return any(_holds_steps(v) for v in _graph.model_values(value).values())
    return False


def _shorten(text: str) -> str:
    if len(text) <= _MAX_VALUE_LENGTH:
        return text
    keep = _MAX_VALUE_LENGTH - 3
    return f"{text[: keep // 2]}...{text[-(keep - keep // 2) :]}"
