"""Running and looking up pipelines: items keyed at entry, then pulled through cached cells.

A step with ``infra`` is a cached boundary: its results are read from its cell, and
only the items missing there (for its mode) pull their inputs from upstream, so a
downstream hit never runs upstream steps. Steps without infra are applied lazily.
"""

from __future__ import annotations

import dataclasses
import typing as tp
from collections.abc import Mapping

from . import _batch, _graph, _identity_memo, _uid, cache_types, identity
from ._cells import Cell
from ._cellsource import CellSource
from ._config_record import configs_text
from ._identity_memo import CellIdentity
from ._state import state_of
from .chain import Chain
from .errors import ItemUidCollisionError
from .identity import ModeType, NoValue
from .items import StepItems
from .lookup import LookupHandle

if tp.TYPE_CHECKING:
    from .base import Step


@dataclasses.dataclass(frozen=True)
class Context:
    """Position of a step in a pipeline: the steps before it and the mode folded so far.

    ``cells`` is set inside a worker: the cells it opens (its own, never the driver's
    memos), and nested infra there runs inline.
    """

    upstream: tuple[Step, ...] = ()
    mode: ModeType = "cached"
    cells: dict[tuple[int, ...], Cell] | None = dataclasses.field(default=None, compare=False)

    def after(self, step: Step) -> Context:
        """The context of the step that follows ``step``."""
        return Context(
            upstream=self.upstream + tuple(_uid.uid_steps(step)),
            mode=_graph.fold_modes(self.mode, _graph.own_mode(step)),
            cells=self.cells,
        )


def run_one(step: Step, value: tp.Any) -> tp.Any:
    """``run_many([value])``'s only result, read directly from the step's cell when the
    step is a cached boundary (from memory when this instance saw the entry)."""
    state = state_of(step)
    hot = state.hot
    if hot is None:
        return _run_one_first(step, value)
    resolved, cell = hot
    key = identity.item_key(resolved, value)
    entry = cell.known.get(key)
    if entry is not None and entry.status == "success":
        from exca.store import CorruptArtifactError

        try:
            return cell.read(entry)
        except CorruptArtifactError:
            pass  # the full path below warns and recomputes
    return next(iter(run_many(step, [value], keys=[key])))


def _run_one_first(step: Step, value: tp.Any) -> tp.Any:
    """A first ``run`` of this instance: a success stored in its cell is read without
    the machinery of ``run_many`` (what a new instance of a cached step mostly does);
    anything else (a miss, an error, a damaged record, another mode) goes through it."""
    resolved = _prepared(step, [value])
    infra = resolved.infra
    if infra is None or infra.folder is None:
        return next(iter(_run_many_prepared(step, resolved, [value])))
    mode = _graph.fold_modes("cached", _graph.own_mode(resolved))
    key = identity.item_key(resolved, value)
    if mode in ("cached", "read-only"):  # (others may recompute a stored entry)
        cell = cell_of(resolved, Context(), mode)  # the cell run_many would read
        entry = cell.peek(key)
        if entry is not None and entry.status == "success":
            from exca.store import CorruptArtifactError

            try:
                result = cell.read(entry)
            except CorruptArtifactError:
                pass  # the full path below warns and recomputes
            else:
                state_of(step).hot = (resolved, cell)  # as run_many would note it
                return result
    return next(iter(_run_many_prepared(step, resolved, [value], keys=[key])))


def run_many(step: Step, values: tp.Iterable[tp.Any], keys: list[str] | None = None) -> StepItems:
    """The items of ``step`` over ``values`` (``keys``: their item keys, if known)."""
    values = list(values)
    return _run_many_prepared(step, _prepared(step, values), values, keys)


def _prepared(step: Step, values: list[tp.Any]) -> Step:
    """``step`` resolved (its infra and upstream settled) and frozen, once ``values``
    are checked to be inputs it can take."""
    resolved = _graph.resolved(step)
    _graph.freeze(resolved)
    _batch.check_inputs(_uid.uid_steps(resolved), values)
    return resolved


def _run_many_prepared(
    original: Step, step: Step, values: list[tp.Any], keys: list[str] | None = None
) -> StepItems:
    """:func:`run_many` of ``original``, whose :func:`_prepared` form is ``step``."""
    if keys is None:  # item_uid is called only where a cache needs the key
        if not _graph.caches(step):
            keys = identity.uncached_keys(values)
        else:
            keys = identity.item_keys(step, values)
            if type(step)._custom_item_uid and len(set(keys)) < len(keys):
                _check_collisions(step, keys, values)
    items = dispatch(step, Context(), StepItems(source=_Inputs(keys, values), uids=keys))
    items.prepare()  # cached boundaries compute now; uncached steps as results are read
    if items.mode in ("cached", "read-only") and not items.pending:
        cell = getattr(items._source, "cell", None)
        if cell is not None:  # later runs of this instance may read this cell directly
            state_of(original).hot = (step, cell)
    return items


class _Inputs(Mapping[str, tp.Any]):
    """The caller's values by item key, as a dict made when first read (only the items
    that are computed read it: a run served from the cache never makes it)."""

    __slots__ = ("_keys", "_values", "_by_key")

    def __init__(self, keys: list[str], values: list[tp.Any]) -> None:
        self._keys, self._values = keys, values
        self._by_key: dict[str, tp.Any] | None = None

    def _dict(self) -> dict[str, tp.Any]:
        if self._by_key is None:
            self._by_key = dict(zip(self._keys, self._values, strict=True))
        return self._by_key

    def __getitem__(self, key: str) -> tp.Any:
        return self._dict()[key]

    def __iter__(self) -> tp.Iterator[str]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())


def _check_collisions(step: Step, keys: list[str], values: list[tp.Any]) -> None:
    """Different inputs given one uid by a custom ``item_uid`` would share one result."""
    first: dict[str, tp.Any] = {}
    for key, value in zip(keys, values, strict=True):
        if key not in first:
            first[key] = value
        elif identity.key_of(first[key]) != identity.key_of(value):
            raise ItemUidCollisionError(
                f"{type(step).__name__}.item_uid gives the same uid {key!r} to different "
                f"inputs {first[key]!r:.80} and {value!r:.80}; they would share one cached "
                "result: make item_uid distinguish them"
            )


def dispatch(step: Step, ctx: Context, items: StepItems) -> StepItems:
    """The items ``step`` produces from ``items`` at position ``ctx``."""
    step = _graph.resolved(step)
    if step.infra is None:
        return expand(step, ctx, items)
    if step.infra.folder is None:
        raise RuntimeError(
            f"{type(step).__name__} has infra {type(step.infra).__name__!r} but no folder; "
            "set infra.folder (or run it inside a step whose infra has one)"
        )
    mode = _graph.fold_modes(ctx.mode, _graph.own_mode(step))
    cell = cell_of(step, ctx, mode)
    source = CellSource(cell, step, Context(ctx.upstream, mode, ctx.cells), items)
    return StepItems(source=source, uids=items.uids, upstream=ctx.upstream, mode=mode)


def expand(step: Step, ctx: Context, items: StepItems) -> StepItems:
    """The computation of ``step`` itself, without its own cache."""
    if isinstance(step, Chain):
        for sub in step._step_list():
            items = dispatch(sub, ctx, items)
            ctx = ctx.after(sub)
        return items
    return items.then(step)


def cell_of(step: Step, ctx: Context, mode: ModeType = "cached") -> Cell:
    """The cell of ``step`` after ``ctx.upstream`` (memoized per step instance)."""
    assert step.infra is not None and step.infra.folder is not None
    _graph.freeze(step)
    position = tuple(id(s) for s in ctx.upstream)  # upstream steps are frozen: ids are stable
    if ctx.cells is not None:  # in a worker: cells of its own, the step's memo untouched
        return _worker_cell(step, ctx.upstream, ctx.cells, mode)
    cells = state_of(step).cells
    known = cells.get(position)
    if known is not None:
        return known[1]
    where = _cell_identity(step, ctx.upstream)
    cell = next((c for _, c in cells.values() if c.relpath == where.relpath), None)
    if cell is None:
        cell = _new_cell(step.infra, where, mode)
    cells[position] = (ctx.upstream, cell)  # the upstream tuple keeps the ids alive
    return cell


def _cell_identity(step: Step, upstream: tuple[Step, ...]) -> CellIdentity:
    """What the cell of ``step`` after ``upstream`` is (a top-level step's from the
    process's memo when its config has an exact key: see ``_identity_memo``)."""
    key = None if upstream else _identity_memo.key_of_config(step)
    if key is not None:
        remembered = _identity_memo.remembered(key)
        if remembered is not None:
            return remembered
    steps = [*upstream, *_uid.uid_steps(step)]
    configs = [_uid.full_config(s) for s in steps]
    classes = [_uid.class_path(s) for s in steps]
    where = CellIdentity(
        relpath=identity.cell_path([_uid.uid_config(s) for s in steps]),
        cache_type=cache_types.for_step(step),
        configs=configs,
        classes=classes,
        at_default=[_fields_at_default(s) for s in steps],
        configs_text=configs_text(configs, classes),
    )
    if key is not None:
        _identity_memo.remember(key, where)
    return where


def _new_cell(backend: tp.Any, where: CellIdentity, mode: ModeType) -> Cell:
    cell = Cell(
        backend, where.relpath, where.cache_type, where.configs, where.classes, where.configs_text
    )
    cell.configs.check_defaults(cell.store, where.at_default, force=mode == "force")
    return cell


def _worker_cell(
    step: Step, upstream: tuple[Step, ...], cells: dict[tuple[int, ...], Cell], mode: ModeType
) -> Cell:
    assert step.infra is not None
    key = (id(step), *(id(s) for s in upstream))  # the unit holds its steps: ids are stable
    cell = cells.get(key)
    if cell is None:
        where = _cell_identity(step, upstream)
        cell = cells[key] = _new_cell(step.infra.model_copy(), where, mode)
    return cell


def _fields_at_default(step: Step) -> set[str]:
    excluded = set(step._exclude_from_cls_uid())
    return set(type(step).model_fields) - set(_uid.uid_config(step)) - excluded - {"infra"}


def lookup(
    step: Step, value: tp.Any, *, upstream: tp.Sequence[Step] = (), uid: str | None = None
) -> LookupHandle:
    """The handle of ``value``'s entry in ``step``'s cell (after ``upstream``)."""
    step = _graph.resolved(step)
    _graph.freeze(step)
    if uid is None:
        entry = upstream[0] if upstream else step
        uid = identity.item_key(_graph.resolved(entry), value)
    elif not isinstance(value, NoValue):
        raise ValueError("pass either a value or _uid to lookup, not both")
    ctx = Context()
    for before in upstream:
        ctx = ctx.after(before)
    return _handle(step, ctx, uid)


def _handle(step: Step, ctx: Context, uid: str) -> LookupHandle:
    step = _graph.resolved(step)
    handle = LookupHandle(uid=uid)
    if step.infra is not None and step.infra.folder is not None:
        cell = cell_of(step, ctx)
        handle = LookupHandle(paths=cell.paths, backend=step.infra, uid=uid)
        handle._cell = cell
    if isinstance(step, Chain):
        subs = []
        for sub in step._step_list():
            subs.append(_handle(sub, ctx, uid))
            ctx = ctx.after(sub)
        if handle._cell is None:  # a chain shares its last step's cell: inspect it there
            last = subs[-1]
            handle = LookupHandle(paths=last._paths, backend=last._backend, uid=uid)
            handle._cell = last._cell
        handle._subs = tuple(subs)
    return handle
