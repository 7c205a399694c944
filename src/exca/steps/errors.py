"""Exceptions of the Step layer, each also the builtin that means the same."""

from __future__ import annotations

import typing as tp

if tp.TYPE_CHECKING:
    from exca.store.claims import Claim

    from ._claim_settings import Settings

__all__ = [
    "BatchProtocolError",
    "ClaimWaitTimeoutError",
    "DefaultChangedError",
    "ItemUidCollisionError",
    "ItemNotComputedError",
    "UnpicklableWorkError",
    "SlurmUnavailableError",
    "WorkerDiedError",
    "WorkerExitError",
    "FunctionPathError",
    "StepClassConflictError",
]


class BatchProtocolError(RuntimeError):
    """Raised when ``_run_batch`` does not yield one result per consumed input."""


class DefaultChangedError(RuntimeError):
    """A class default changed since the cache was written: its results used the old one."""


class ItemUidCollisionError(ValueError):
    """A custom ``item_uid`` gave one uid to different inputs of one call."""


class ClaimWaitTimeoutError(TimeoutError):
    """Items stayed claimed by a worker that looks alive for longer than the wait bound."""

    def __init__(self, claim: Claim, count: int, config: Settings) -> None:
        self.claim = claim
        super().__init__(
            f"waited {config.max_wait_s:.0f} s for {count} item(s) held by {claim}, whose "
            "owner still looks alive (its process runs, Slurm says its job runs, or its "
            "heartbeat changes); wait longer (EXCA_CLAIM_MAX_WAIT_S), stop that worker, or "
            f"delete {claim.path} to compute the items here"
        )


class ItemNotComputedError(RuntimeError):
    """An item's unit of work ended without storing it (stopped at an earlier error, or
    its worker or job died): nothing is cached for it, a next run computes it."""


class UnpicklableWorkError(TypeError):
    """A step (or an input) cannot be pickled, so it cannot be sent to another process."""


class SlurmUnavailableError(RuntimeError):
    """The ``Slurm`` backend was asked to submit where no Slurm cluster answers."""


class WorkerDiedError(RuntimeError):
    """A worker process or job ended without reporting: its items not stored are not cached."""


class WorkerExitError(RuntimeError):
    """A worker's computation raised ``SystemExit`` or ``KeyboardInterrupt`` (a step
    calling ``sys.exit()``, a Ctrl-C reaching a pool process): reported as its unit's
    failure, not as an exit of the driver; its items not stored are not cached."""


class FunctionPathError(TypeError):
    """A callable given to ``Func`` has no import path that names it, so it has no identity."""


class StepClassConflictError(RuntimeError):
    """A step folder holds the results of another class of the same name."""
