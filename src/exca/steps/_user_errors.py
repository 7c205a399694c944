"""Validation errors of step configs in the user's terms: locations as the user wrote
them (``steps.1.coeff``), without pydantic's union branches, nor the errors of branches
that do not apply (a list of steps is no ``OrderedDict``, a dict no ``Sequence``)."""

from __future__ import annotations

import re
import typing as tp

import pydantic
import pydantic_core

__all__ = ["in_user_terms"]

# a loc part that names a schema, not a field: "json-or-python[...]", "ordered-dict[...]"
_SCHEMA_PART = re.compile(r"^[a-z][a-z0-9_-]*\[.*\]$", re.DOTALL)


def in_user_terms(error: pydantic.ValidationError, title: str) -> pydantic.ValidationError:
    """``error`` with its internal locations cleaned (itself if it has none)."""
    details = error.errors()
    if not any(_schema_parts(detail["loc"]) for detail in details):
        return error
    kept = [_user_loc(d) for d in details if not _wrong_branch(d, details)]
    try:
        return pydantic_core.ValidationError.from_exception_data(
            title, tp.cast(list[pydantic_core.InitErrorDetails], kept)
        )
    except (KeyError, TypeError, ValueError):  # a custom error type: keep pydantic's words
        return error


def _schema_parts(loc: tuple[int | str, ...]) -> list[int]:
    return [i for i, part in enumerate(loc) if isinstance(part, str) and _SCHEMA_PART.match(part)]


def _wrong_branch(detail: tp.Any, details: list[tp.Any]) -> bool:
    """An error at the root of a union branch (the input is not of that branch's type),
    while another branch of that union got further: that other one applies."""
    loc = detail["loc"]
    parts = _schema_parts(loc)
    if not parts or parts[-1] != len(loc) - 1:
        return False
    union = loc[: parts[-1]]
    return any(
        other["loc"][: len(union)] == union and len(other["loc"]) > len(loc) for other in details
    )


def _user_loc(detail: tp.Any) -> tp.Any:
    drop = set(_schema_parts(detail["loc"]))
    loc = tuple(part for i, part in enumerate(detail["loc"]) if i not in drop)
    return {**detail, "loc": loc}
