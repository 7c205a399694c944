"""Exceptions of the Step layer, each also the builtin that means the same."""

from __future__ import annotations

__all__ = [
    "BatchProtocolError",
    "DefaultChangedError",
    "FunctionPathError",
    "ItemUidCollisionError",
    "StepClassConflictError",
]


class BatchProtocolError(RuntimeError):
    """Raised when ``_run_batch`` does not yield one result per consumed input."""


class DefaultChangedError(RuntimeError):
    """A class default changed since the cache was written: its results used the old one."""


class ItemUidCollisionError(ValueError):
    """A custom ``item_uid`` gave one uid to different inputs of one call."""


class FunctionPathError(TypeError):
    """A callable given to ``Func`` has no import path that names it, so it has no identity."""


class StepClassConflictError(RuntimeError):
    """A step folder holds the results of another class of the same name."""
