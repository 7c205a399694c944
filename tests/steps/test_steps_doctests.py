"""Contract: the docstring examples of exca.steps run and give what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import exca.steps

MODULES = sorted(m.name for m in pkgutil.iter_modules(exca.steps.__path__, "exca.steps."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_of_the_module_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
