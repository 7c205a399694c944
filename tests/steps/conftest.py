"""Helpers shared by the step tests, as fixtures (test modules cannot import each other)."""

from __future__ import annotations

import typing as tp

import pytest

Outcomes = tp.Callable[[tp.Iterable[tp.Any]], list[tp.Any]]


def _outcomes(items: tp.Iterable[tp.Any]) -> list[tp.Any]:
    out: list[tp.Any] = []
    iterator = iter(items)
    while True:
        try:
            out.append(next(iterator))
        except StopIteration:
            return out
        except ValueError as error:
            out.append(str(error))


@pytest.fixture
def outcomes() -> Outcomes:
    """Every result of an iteration, or the message of its ``ValueError``, iterating on
    after each error (fail fast computes the items after an error as they are reached)."""
    return _outcomes
