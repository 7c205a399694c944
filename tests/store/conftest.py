"""Fixtures of the store tests: which object files this process opens, from a fresh start."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from exca.store import mapped

_OPENED: list[str] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event == "open" and isinstance(args[0], str) and args[0].endswith(".npy"):
        _OPENED.append(args[0])


sys.addaudithook(_audit)  # (audit hooks cannot be removed: it only records .npy opens)


@pytest.fixture
def opened() -> Iterator[list[str]]:
    """The ``.npy`` files this process opens during the test, which starts with no map
    kept from earlier tests (as a fresh process would)."""
    mapped.clear()
    _OPENED.clear()
    yield _OPENED
    mapped.clear()
