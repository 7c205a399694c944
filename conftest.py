"""Shared fixtures: doctest namespace with a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _doctest_tmp_folder(doctest_namespace: dict, tmp_path: Path) -> None:
    doctest_namespace["tmp_folder"] = tmp_path
