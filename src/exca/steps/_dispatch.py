"""The driver side of computing a cell's misses: plan units, coordinate, execute, settle.

``start`` turns keys into units of work (split as the backend asks), claims them through
the coordinator and hands them to the backend's ``_execute``; the returned
:class:`Dispatch` is settled unit by unit when the items are read: it waits for the
unit's outcome, then re-reads its keys from the store. A key still missing then becomes
a failure carrying the reason (never a cached success).
"""

from __future__ import annotations

import dataclasses
import os
import typing as tp
import weakref

from . import _coordinate, _plan
from ._batch import Failure
from ._cellsource import CellSource
from ._work import CellAddress, FromCell, UnitResult, Values, WorkUnit
from .backends.base import Done
from .backends.progress import Progress, progress_for
from .errors import ItemNotComputedError

if tp.TYPE_CHECKING:
    from ._cells import Cell
    from .backends.base import Backend, Outcome
    from .items import StepItems

__all__ = ["Dispatch", "start", "address_of"]


def address_of(cell: Cell, with_configs: bool = False) -> CellAddress:
    """The picklable address of a cell (with its configs when a worker must record them)."""
    configs = cell.configs
    if with_configs and not configs.recorded:
        return CellAddress(
            cell.backend, cell.relpath, cell.cache_type, configs.configs, configs.classes
        )
    return CellAddress(cell.backend, cell.relpath, cell.cache_type)


def start(
    source: CellSource,
    keys: list[str],
    inputs: Values | FromCell,
    damaged: tp.Collection[str] = (),
) -> Dispatch:
    """Send the units computing ``keys`` of ``source``'s cell, returning once submitted
    (``damaged``: those whose stored entry is damaged, computed even though stored)."""
    cell, backend = source.cell, source.step.infra
    assert backend is not None
    coordinator = _coordinate.coordinator_for(cell)
    claim = coordinator.claim(cell, keys, source.ctx.mode, damaged)
    try:  # from the claim on, whatever fails before the units run must release it
        most, least = backend._unit_limits(len(claim.mine))
        address = address_of(cell, with_configs=True)
        parts = _plan.split(claim.mine, most, least)
        claim = coordinator.split(cell, claim, parts)  # one claim record per unit
        whole = len(parts) == 1 and len(parts[0]) == len(keys)  # (its inputs: all given)
        units = [
            WorkUnit(
                cell=address,
                step=source.step,
                upstream=source.ctx.upstream,
                mode=source.ctx.mode,
                keys=tuple(part),
                inputs=inputs if whole else _inputs_of(inputs, part),
                claim=token,
            )
            for part, token in zip(parts, claim.tokens, strict=True)
        ]
        if source.ctx.cells is not None:  # inside a worker: nested infra runs inline, here
            outcomes: tp.Sequence[Outcome | None] = [Done(unit()) for unit in units]
        else:
            outcomes = _execute(backend, units)
        claim = coordinator.track(cell, claim, outcomes)
    except BaseException:  # nothing runs for these keys: others may compute them
        coordinator.release(cell, claim)
        raise
    return Dispatch(source, coordinator, claim, units, outcomes)


def _abandon(
    pid: int, coordinator: _coordinate.Coordinator, cell: Cell, claim: _coordinate.Claim
) -> None:
    if os.getpid() == pid:  # (a forked child collecting its copy: the claims are not its)
        coordinator.abandon(cell, claim)


def _execute(backend: Backend, units: list[WorkUnit]) -> list[Outcome | None]:
    outcomes = backend._execute(units)
    if outcomes is None:  # an override written for the old hook, that runs its work
        return [None] * len(units)
    outcomes = list(outcomes)
    if len(outcomes) != len(units):
        raise RuntimeError(
            f"{type(backend).__name__}._execute returned {len(outcomes)} outcome(s) for "
            f"{len(units)} unit(s) of work; return one outcome per unit, in order"
        )
    return outcomes


def _inputs_of(inputs: Values | FromCell, keys: list[str]) -> Values | FromCell:
    if isinstance(inputs, FromCell):
        return inputs
    values = inputs.values
    return Values({key: values[key] for key in keys}, inputs.pending)


def describe_inputs(items: StepItems, keys: list[str]) -> Values | FromCell:
    """What a worker needs to rebuild ``items`` for ``keys``: the upstream cell they are
    read from (settled first), or their values."""
    source = items._source
    if isinstance(source, CellSource):
        source.complete(keys)
        return FromCell(address_of(source.cell), tuple(items.pending))
    return Values({key: source[key] for key in keys}, tuple(items.pending))


class Dispatch:
    """Units in flight for one cell; each is settled (waited for, read back) once."""

    def __init__(
        self,
        source: CellSource,
        coordinator: _coordinate.Coordinator,
        claim: _coordinate.Claim,
        units: list[WorkUnit],
        outcomes: tp.Sequence[Outcome | None],
    ) -> None:
        self._source = source
        self._coordinator = coordinator
        self._claim = claim
        if any(type(outcome) is not Done for outcome in outcomes):  # (inline units ran
            # and released their claims already) a dispatch dropped unsettled (its items
            # not all read) lets go of its claims then; those handed over to jobs stay theirs
            weakref.finalize(self, _abandon, os.getpid(), coordinator, source.cell, claim)
        self._open: dict[int, tuple[WorkUnit, Outcome | None]] = dict(
            enumerate(zip(units, outcomes, strict=True))
        )
        self._unit_of = {key: index for index, unit in enumerate(units) for key in unit.keys}
        self.keys = [*self._unit_of, *claim.others]
        self._progress: Progress | None = None
        if len(units) > 1 and any(type(outcome) is not Done for outcome in outcomes):
            label = f"{type(source.step).__name__} ({len(units)} units)"
            self._progress = progress_for(len(self._unit_of), label)

    def settle(self, keys: tp.Iterable[str] | None = None) -> list[str]:
        """Wait for the units computing ``keys`` (all by default) and read them back;
        return the keys settled now."""
        indexes = (
            set(self._open)
            if keys is None
            else {self._unit_of[key] for key in keys if key in self._unit_of}
        )
        settled: list[str] = []
        for index in sorted(indexes & set(self._open)):
            unit, outcome = self._open.pop(index)
            settled.extend(unit.keys)
            done, failed = self._settle_unit(unit, outcome)
            # its worker may have ended without releasing (never started, or killed)
            self._coordinator.release(self._source.cell, self._claim, [index])
            if self._progress is not None:
                self._progress.advance(done, failed)
                if not self._open:
                    self._progress.close()
        others = self._claim.others
        if others and (keys is None or not set(others).isdisjoint(keys) or not self._open):
            self._settle_others(others)
            settled.extend(others)
        if not self._open:
            self._coordinator.release(self._source.cell, self._claim)
        return settled

    def _settle_others(self, others: list[str]) -> None:
        """Wait for the keys other workers own; compute here those they left (released
        unstored, or their owner is gone), as a new dispatch of their own."""
        source, pending, computed = self._source, list(others), set()
        while pending:  # (the others' keys still held stay pending)
            claim = dataclasses.replace(self._claim, others=pending)
            free = self._coordinator.wait(source.cell, claim, source.ctx.mode)
            if not free:
                break  # every pending key is stored
            computed.update(free)
            pending = [key for key in pending if key not in computed]
            source._compute(free)
            source.settle(free)
        source.reread([key for key in others if key not in computed], {})
        self._claim = dataclasses.replace(self._claim, others=[])

    def outcomes(self) -> list[Outcome | None]:
        """The outcomes of the units not settled yet."""
        return [outcome for _, outcome in self._open.values()]

    def _settle_unit(self, unit: WorkUnit, outcome: Outcome | None) -> tuple[int, int]:
        """Read back the unit's items; return how many ended (not those it left to be
        computed when read) and how many of them failed."""
        error: BaseException | None = None
        result: UnitResult | None = None
        try:
            result = outcome.result() if outcome is not None else None
        except Exception as failure:  # noqa: BLE001 - its items fail, the other units go on
            error = failure
            error.add_note(f"while computing {unit.label()}")
        fresh = dict(result.failures) if result is not None else {}
        keys = list(unit.keys)
        if result is not None and result.left:  # fail fast: the rest is computed when read
            left = set(result.left)
            keys = [key for key in keys if key not in left]
            self._source.defer(result.left)
        published = result.published if result is not None else None
        missing = self._source.reread(keys, fresh, published)
        for key in missing:
            self._source.mark_uncomputed(key, _not_computed(key, unit, error))
        return len(keys), len(missing) + len(fresh)


def _not_computed(key: str, unit: WorkUnit, error: BaseException | None) -> Failure:
    if error is not None:
        return Failure(error)
    return Failure(
        ItemNotComputedError(
            f"the work for {unit.label()} completed without storing item {key!r}; is "
            "another process clearing this cache?"
        )
    )
