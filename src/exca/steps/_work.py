"""Units of work: picklable values that compute some items of one cell into the store.

A unit names the store and cell it writes (a backend config and a relative path), the
step and its upstream steps, the mode, the item keys, and its inputs: the caller's values,
or the upstream cell they are read from (with the uncached steps between). It holds no
open file, memory map or driver-side memo, so it runs in a thread, a pool process or a
Slurm job alike: the worker opens the store from it and writes through it, and the driver
reads the results back from the store.
"""

from __future__ import annotations

import contextlib
import dataclasses
import typing as tp

from ._batch import Failure
from ._cells import Cell
from ._cellsource import CellSource
from ._coordinate import working_under
from ._engine import Context, expand
from ._storing import store_outcomes
from .backends import Cached
from .identity import ModeType
from .items import StepItems

if tp.TYPE_CHECKING:
    from exca.store import Entry

    from .backends.base import Backend
    from .base import Step
    from .cache_types import CacheType

__all__ = [
    "CellAddress",
    "Values",
    "FromCell",
    "WorkUnit",
    "UnitResult",
    "run_unit",
    "run_in_worker",
    "run_pickled",
    "load_worker_modules",
]

_HANDED_BACK = 8  # units of at most so many items hand their entries back (in-process)
# the least work (estimated at the unit's pace so far) a worker leaves to the idle workers
# of its pool when asked: computing it elsewhere costs a new dispatch (forks: tens of ms)
_LEAVE_MIN_S = 0.1
_REST_WANTED: tp.Callable[[], bool] | None = None  # (set in a pool process: see below)
_REST_UNIT_STARTED = False  # (its own unit started: the units it runs inline never stop)


@dataclasses.dataclass(frozen=True)
class CellAddress:
    """Where a cell lives: the store of ``backend.folder`` and ``relpath`` inside it."""

    backend: Backend
    relpath: str
    cache_type: CacheType
    configs: list[dict[str, tp.Any]] | None = None  # for the config record, if written here
    classes: list[str] | None = None  # (with the configs: the steps' class paths)

    def open(self) -> Cell:
        """A cell of its own (own memo, own RAM cache) over the same store entries."""
        backend = self.backend.model_copy()
        return Cell(backend, self.relpath, self.cache_type, self.configs, self.classes)


@dataclasses.dataclass(frozen=True)
class Values:
    """Inputs given as values, by item key, then ``pending`` uncached steps."""

    values: dict[str, tp.Any]
    pending: tuple[Step, ...] = ()

    def source(self) -> tp.Mapping[str, tp.Any]:
        return self.values


@dataclasses.dataclass(frozen=True)
class FromCell:
    """Inputs read from an upstream cell (computed already), then ``pending`` steps."""

    cell: CellAddress
    pending: tuple[Step, ...] = ()

    def source(self) -> _CellReader:
        return _CellReader(self.cell.open())


class _CellReader:
    """An upstream cell's outcomes by key: values, or failures for cached errors.

    An input missing or damaged there raises (the unit fails, nothing is cached for its
    items: a next run recomputes the input), as no error of this step explains it.
    """

    def __init__(self, cell: Cell) -> None:
        self._cell = cell

    def __getitem__(self, key: str) -> tp.Any:
        entry = self._cell.entry(key)
        if entry is None:
            raise LookupError(
                f"input {key!r} is missing from {self._cell.cache_folder}: it was stored "
                "before this work was sent, and deleted since; run again to recompute it"
            )
        return self._cell.read(entry)


@dataclasses.dataclass
class UnitResult:
    """What a worker reports besides the store: where fail-fast stopped it, and (in the
    driver's own process only) the errors it computed, to be raised as they are, and
    the entries it published (the driver need not read them back)."""

    left: list[str] = dataclasses.field(default_factory=list)  # not computed (fail fast)
    failures: dict[str, Failure] = dataclasses.field(default_factory=dict)
    published: dict[str, Entry] = dataclasses.field(default_factory=dict)

    def __getstate__(self) -> dict[str, tp.Any]:
        # errors and entries travel by the store: a driver in another process reads them
        return {"left": self.left, "failures": {}, "published": {}}


@dataclasses.dataclass(frozen=True)
class WorkUnit:
    """Compute ``keys`` of ``cell`` with ``step`` (after ``upstream``) and store them.

    Calling it runs it here (see :func:`run_unit`). ``claim`` is the coordinator's token
    for these keys, if any, carried to the worker.
    """

    cell: CellAddress
    step: Step
    upstream: tuple[Step, ...]
    mode: ModeType
    keys: tuple[str, ...]
    inputs: Values | FromCell
    claim: tp.Any = None

    def __call__(self) -> UnitResult:
        return run_unit(self)

    def label(self) -> str:
        return f"{len(self.keys)} item(s) of {type(self.step).__name__} in {self.cell.relpath}"


def run_unit(unit: WorkUnit) -> UnitResult:
    """Compute the unit's items and store them; the first fresh error stops it.

    Nested steps with their own ``infra`` run inline here, caching in their own cells.
    The unit runs under its driver's claim of its keys (see ``_coordinate``).
    """
    cell = unit.cell.open()
    with working_under(cell.claims, unit.claim, list(unit.keys)):
        return _run_in(unit, cell)


def run_in_worker(unit: WorkUnit) -> UnitResult:
    """Run ``unit`` as a worker (a pool thread or process, a job): a ``SystemExit`` or
    ``KeyboardInterrupt`` raised while it computes ends the unit as a failure
    (:class:`~exca.steps.errors.WorkerExitError`, chained to it), which the driver
    reports for the unit's items; it never ends the driver. (The driver's own Ctrl-C is
    raised in the driver, as ever.)"""
    try:
        return unit()
    except (SystemExit, KeyboardInterrupt) as error:
        from .errors import WorkerExitError

        raise WorkerExitError(
            f"the worker computing {unit.label()} raised {type(error).__name__}"
            f"({error}); its items not stored are not cached, a next run computes them"
        ) from error


def run_pickled(payload: bytes) -> UnitResult:
    """Unpickle a unit sent to this process and run it as a worker."""
    import pickle

    unit: WorkUnit = pickle.loads(payload)
    return run_in_worker(unit)


def load_worker_modules() -> None:
    """Import here what a unit imports when it first computes and writes, so that
    workers forked from this process inherit those modules instead of each importing
    them on its way to its first item (milliseconds each, on a pool's critical path; a
    driver that only sends work never imports them itself before reading back)."""
    from exca.store import objects  # noqa: F401 - (the write path: hashing, packing)


def _run_in(unit: WorkUnit, cell: Cell) -> UnitResult:
    may_leave_rest = _may_leave_rest()  # (before any nested unit starts)
    inputs = StepItems(
        source=unit.inputs.source(),
        uids=list(unit.keys),
        upstream=unit.upstream,
        pending=unit.inputs.pending,
        mode=unit.mode,
    )
    ctx = Context(unit.upstream, unit.mode, cells={})
    results = expand(unit.step, ctx, inputs)
    inner = results._source
    if isinstance(inner, CellSource) and inner.cell.relpath == cell.relpath:
        if not results.pending:  # a chain's last step cached its (shared) cell already
            results.prepare()
            return UnitResult(left=list(inner._deferred), failures=dict(inner._fresh))
    keys = list(unit.keys)
    # (one item is published as it is stored: a batch of one would publish it alike)
    batch = cell.batch() if len(keys) > 1 else contextlib.nullcontext()
    # a batched step computes several items at once: stopping between them could drop
    # results computed already
    batched = any(step._batched for step in results.pending)
    stop = _leave_rest if may_leave_rest and not batched else None
    with _logs(cell, len(keys)), batch:
        stored = store_outcomes(cell, keys, results.outcomes(fail_fast=True), stop)
    # the batch ended without raising: what this cell wrote for the keys is published
    # (handed back for a few items; many are read back together, faster than decoded here)
    published: dict[str, Entry] = {}
    if len(keys) <= _HANDED_BACK:
        known = cell.known
        published = {key: entry for key in keys if (entry := known.get(key)) is not None}
    return UnitResult(left=stored.left, failures=stored.failures, published=published)


def leave_rest_when(wanted: tp.Callable[[], bool]) -> None:
    """In a pool process that runs one unit: stop between two items once ``wanted()``
    says the driver wants the rest (the other workers have ended: their cores idle),
    leaving the items not started uncomputed, as fail fast does (the driver computes
    them on read, as a dispatch of their own over the pool's workers); only when the
    rest is worth it (see :func:`_leave_rest`)."""
    global _REST_WANTED, _REST_UNIT_STARTED
    _REST_WANTED, _REST_UNIT_STARTED = wanted, False  # (inherited from a worker's fork)


def _may_leave_rest() -> bool:
    """Whether the unit starting here is a pool process's own unit (the first to start
    there), which may leave its rest; not the units of nested steps it runs inline."""
    global _REST_UNIT_STARTED
    if _REST_WANTED is None or _REST_UNIT_STARTED:
        return False
    _REST_UNIT_STARTED = True
    return True


def rest_wanted() -> bool:
    """Whether the driver of this pool process wants the rest of its unit (False in
    any other process)."""
    return _REST_WANTED is not None and _REST_WANTED()


def _leave_rest(paced: int, spent: float, left: int) -> bool:
    """Whether to stop with ``left`` items not started: they are at least two, of at
    least ``_LEAVE_MIN_S`` at the pace of ``paced`` items in ``spent`` seconds, and the
    driver wants them."""
    return left >= 2 and spent / paced * left >= _LEAVE_MIN_S and rest_wanted()


def _logs(cell: Cell, count: int) -> tp.ContextManager[None]:
    """What the computation prints and logs, copied to the step folder if asked (inline)."""
    backend = cell.backend
    if not (isinstance(backend, Cached) and backend.capture_logs):
        return contextlib.nullcontext()
    from ._capture import captured

    return captured(cell.store, cell.relpath, f"computing {count} item(s)")
