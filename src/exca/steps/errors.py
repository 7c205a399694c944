"""Exceptions of the Step layer, each also the builtin that means the same."""

from __future__ import annotations

__all__ = [
    "BatchProtocolError",
    "DefaultChangedError",
    "ItemUidCollisionError",
    "ItemNotComputedError",
    "UnpicklableWorkError",
    "SlurmUnavailableError",
    "WorkerDiedError",
    "FunctionPathError",
    "StepClassConflictError",
]


class BatchProtocolError(RuntimeError):
    """Raised when ``_run_batch`` does not yield one result per consumed input."""


class DefaultChangedError(RuntimeError):
    """A class default changed since the cache was written: its results used the old one."""


class ItemUidCollisionError(ValueError):
    """A custom ``item_uid`` gave one uid to different inputs of one call."""


class ItemNotComputedError(RuntimeError):
    """An item's unit of work ended without storing it (stopped at an earlier error, or
    its worker or job died): nothing is cached for it, a next run computes it."""


class UnpicklableWorkError(TypeError):
    """A step (or an input) cannot be pickled, so it cannot be sent to another process."""


class SlurmUnavailableError(RuntimeError):
    """The ``Slurm`` backend was asked to submit where no Slurm cluster answers."""


class WorkerDiedError(RuntimeError):
    """A worker process or job ended without reporting: its items not stored are not cached."""


class FunctionPathError(TypeError):
    """A callable given to ``Func`` has no import path that names it, so it has no identity."""


class StepClassConflictError(RuntimeError):
    """A step folder holds the results of another class of the same name."""
