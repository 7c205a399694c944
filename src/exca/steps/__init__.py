"""Pipelines of pydantic-configured steps whose results are cached in the artifact store.

Examples
--------
>>> from exca.steps import Chain, Step
>>> class Multiply(Step):
...     coeff: float = 2.0
...
...     def _run(self, value: float) -> float:
...         return value * self.coeff
>>> Chain(steps=[Multiply(coeff=2), Multiply(coeff=3)]).run(5.0)
30.0
"""

from . import backends, helpers, identity, items
from .base import Step
from .chain import Chain

__all__ = ["Step", "Chain", "backends", "helpers", "identity", "items"]
