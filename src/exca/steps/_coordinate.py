"""Compute once: which keys of a dispatch this driver computes, and waiting for the others.

The driver asks the coordinator before executing a dispatch (:meth:`Coordinator.claim`),
hands the claimed keys to the backend as units (each unit carries its claim token to its
worker), and once its own units have ended waits, bounded, for the keys others compute
(:meth:`Coordinator.wait`), then reads every key from the store. Coordination is
advisory: losing it costs duplicate work, never a wrong value.

This coordinator claims every key and waits for none (each driver computes what it
misses); compute-once across drivers fills these hooks in.
"""

from __future__ import annotations

import dataclasses
import typing as tp

if tp.TYPE_CHECKING:
    from ._cells import Cell

__all__ = ["Claim", "Coordinator", "coordinator_for"]


@dataclasses.dataclass(frozen=True)
class Claim:
    """Keys of one dispatch: those this driver computes, and those another worker owns."""

    mine: list[str]
    others: list[str] = dataclasses.field(default_factory=list)
    token: tp.Any = None  # carried by the units to their workers


class Coordinator:
    """The no-op coordinator: every key is this driver's to compute."""

    def claim(self, cell: Cell, keys: list[str]) -> Claim:
        return Claim(mine=list(keys))

    def wait(self, cell: Cell, claim: Claim) -> None:
        """Return once the keys of ``claim.others`` are stored, or raise (bounded)."""

    def release(self, cell: Cell, claim: Claim) -> None:
        """Give up what remains of ``claim`` (its units have ended, stored or not)."""


_COORDINATOR = Coordinator()


def coordinator_for(cell: Cell) -> Coordinator:
    return _COORDINATOR
