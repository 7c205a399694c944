"""The items of a cached boundary: read from its cell, the missing ones computed as work.

Computing goes through :mod:`._dispatch` (units of work sent to the step's backend);
reading an item first settles the unit computing it, so results are yielded in input
order as they are stored.
"""

from __future__ import annotations

import itertools
import operator
import typing as tp

from ._batch import Failure
from ._cells import new_entry_map
from .backends.base import Done

_BLOCK = 256  # values read together; inline payloads are small (at most 64 KiB each)
_FEW_KEYS = 4  # values read one by one
_RESUME = 1024  # items left by a fresh failure computed together when the first is read
_objects = operator.attrgetter("objects")

if tp.TYPE_CHECKING:
    from exca.store import Entry
    from exca.store.codecs.base import ObjectReader
    from exca.store.entry_map import EntryMap

    from ._cells import Cell
    from ._dispatch import Dispatch
    from ._engine import Context
    from .base import Step
    from .items import StepItems


class CellSource:
    """Source of a step's results: cached entries, after computing the misses of its mode."""

    def __init__(self, cell: Cell, step: Step, ctx: Context, inputs: StepItems) -> None:
        self.cell = cell
        self.step = step
        self.ctx = ctx
        self.inputs = inputs
        self._entries = new_entry_map()
        self._fresh: dict[str, Failure] = {}  # errors computed in this process: raised as is
        self._waiting: dict[str, Dispatch] = {}  # key -> the dispatch computing it
        self._deferred: dict[str, None] = {}  # left uncomputed by fail fast, computed on read

    def prepare(self, keys: tp.Sequence[str]) -> None:
        """Compute what ``keys`` miss in the cell (for the mode), then note their entries."""
        todo = [key for key in keys if key not in self._entries] if self._entries else keys
        if self._deferred:  # left by a fresh failure: computed when read, not before
            todo = [key for key in todo if key not in self._deferred]
        if not todo:
            return
        found = self.cell.entries(todo)  # a new map: kept as is when nothing is noted yet
        if found.damaged:  # misses: recomputed (or, where nothing may be written, raised)
            self.cell.warn_damaged(found.damaged)
        misses = self._misses(todo, found)
        if self._entries:
            self._entries.update(found)
        else:
            self._entries = found
        if misses:
            self._compute_misses(misses, found.damaged)

    def _compute_misses(self, misses: list[str], damaged: tp.Mapping[str, str]) -> None:
        from exca.store import ReadOnlyStoreError

        try:
            self._compute(misses, damaged=damaged.keys())
        except ReadOnlyStoreError as error:
            if not damaged or not set(misses) <= damaged.keys():
                raise  # a true miss needs a write: the whole call fails, as it would anyway
            self._fail_damaged(damaged, f"the store is read-only: {error}")

    def _misses(self, keys: tp.Sequence[str], found: EntryMap) -> list[str]:
        mode = self.ctx.mode
        if mode in ("cached", "read-only"):  # only force and retry recompute cached items
            misses = [key for key in keys if key not in found] if len(found) < len(keys) else []
            if found.damaged and mode == "read-only":
                self._fail_damaged(found.damaged, "infra.mode is 'read-only'")
                misses = [key for key in misses if key not in found.damaged]
            if misses and mode == "read-only":
                raise RuntimeError(
                    f"no cached result for item {misses[0]!r} in {self.cell.cache_folder} and "
                    "infra.mode is 'read-only'; run it once with mode 'cached' to compute it"
                )
            return misses
        attempted = self.cell.attempted
        return [
            key
            for key in keys
            if key not in found
            or (
                key not in attempted
                and (mode == "force" or (mode == "retry" and found[key].status == "error"))
            )
        ]

    def _fail_damaged(self, damaged: tp.Mapping[str, str], why: str) -> None:
        """Make each damaged key a failure of its own (the other keys are served)."""
        from exca.store import CorruptArtifactError

        for key, reason in damaged.items():
            error = CorruptArtifactError(
                self.cell.cache_folder, f"record of item {key!r}: {reason}"
            )
            error.add_note(
                f"it cannot be recomputed here ({why}): run "
                f"exca.store.Store({str(self.cell.store.folder)!r}).verify(fix=True), then run "
                "this step once with infra.mode='cached' where the folder is writable"
            )
            self._fresh[key] = Failure(error, origin=self.cell.relpath)

    def _compute(
        self, keys: list[str], reading: bool = False, damaged: tp.Collection[str] = ()
    ) -> None:
        """Send the work computing ``keys``; ``reading``: they are being read now, so what
        fail fast left upstream of them is computed first (else they wait with it);
        ``damaged``: those of them whose stored entry is damaged (it is no result)."""
        from ._dispatch import describe_inputs, start

        inputs = self.inputs.select(keys)
        inputs.prepare()  # upstream cached boundaries compute here, before the work ships
        blocked, waiting = _upstream_state(inputs, keys, reading)
        if blocked or waiting:  # these fail as upstream did, or wait as upstream does
            self._fresh.update(blocked)
            self.defer(waiting)
            keys = [key for key in keys if key not in blocked and key not in waiting]
            if not keys:
                return
            inputs = inputs.select(keys)
        for key in keys:
            self._deferred.pop(key, None)
        dispatch = start(self, keys, describe_inputs(inputs, keys), damaged)
        if self.ctx.mode in ("force", "retry"):
            self.cell.attempted.update(keys)
        for key in dispatch.keys:
            self._waiting[key] = dispatch
        if all(type(outcome) is Done or outcome is None for outcome in dispatch.outcomes()):
            self.settle(keys)  # ran inline already: read back now, as a cached boundary does

    def settle(self, keys: tp.Iterable[str]) -> None:
        """Wait for the work computing ``keys`` (if any is in flight) and read them back."""
        waiting = self._waiting
        if not waiting:
            return
        for dispatch in {id(d): d for key in keys if (d := waiting.get(key))}.values():
            for key in dispatch.settle(keys):
                waiting.pop(key, None)

    def complete(self, keys: tp.Sequence[str]) -> None:
        """Settle ``keys`` and compute those fail fast left: every one of them is then
        stored, or failed (before its results are sent to a worker downstream)."""
        self.settle(keys)
        while self._deferred and not self._deferred.keys().isdisjoint(keys):
            left = [key for key in keys if key in self._deferred]
            self._compute(left, reading=True)
            self.settle(left)

    def reread(
        self,
        keys: list[str],
        fresh: dict[str, Failure],
        published: tp.Mapping[str, Entry] | None = None,
    ) -> list[str]:
        """Forget what this process remembered of ``keys`` (a worker rewrote them), note
        their entries as stored now and ``fresh`` errors; return the keys missing.

        ``published``: entries a worker of this process just published for some of the
        keys (the same records the store holds: they are taken, not read back)."""
        cell = self.cell
        ram, known = cell.backend._ram_cache(), cell.known
        for key in keys:
            known.discard(key)
            if ram:
                ram.pop((cell.relpath, key), None)
        unread = [key for key in keys if key not in published] if published else keys
        found = cell.entries(unread) if unread else new_entry_map()
        if published:
            for key in keys:
                if key in published:
                    found[key] = known[key] = published[key]
        if found:  # a worker wrote them, so it wrote the config record first
            cell.configs.recorded = True
        self._entries.update(found)
        self._fresh.update(fresh)
        return [key for key in keys if key not in found] if len(found) < len(keys) else []

    def defer(self, keys: list[str]) -> None:
        """Fail fast left ``keys`` uncomputed: they are computed when read (in order)."""
        for key in keys:
            self._entries.discard(key)  # (under force, an old entry must not be served)
            self.cell.attempted.discard(key)
            self._deferred[key] = None

    def _resume(self, key: str) -> None:
        """Compute the items fail fast left, from ``key`` on (a batch of them)."""
        order = list(self._deferred)
        start = order.index(key)
        self._compute(order[start : start + _RESUME], reading=True)
        self.settle((key,))

    def mark_uncomputed(self, key: str, failure: Failure) -> None:
        """``key`` has no stored result: reading it raises ``failure`` (not cached)."""
        self._fresh[key] = failure

    def blocks(self, keys: tp.Sequence[str]) -> tp.Iterator[tp.Iterable[tp.Any]]:
        """``self[key]`` for each key, in order, block after block; the small cached values
        of a block are read together (one block at a time: a large read never has all its
        values in RAM)."""
        if len(keys) <= _FEW_KEYS:  # (run() reads one: no bulk machinery)
            yield (self[key] for key in keys)
            return
        for start in range(0, len(keys), _BLOCK):
            yield self._block(keys[start : start + _BLOCK])

    def _block(self, keys: tp.Sequence[str]) -> tp.Iterable[tp.Any]:
        from exca.store import CorruptArtifactError

        self.settle(keys)
        one_by_one = (self[key] for key in keys)
        if not (self._fresh.keys().isdisjoint(keys) and self._deferred.keys().isdisjoint(keys)):
            return one_by_one
        try:
            values = self.cell.read_inline(self._entries, keys)  # small values: fastest
            if values is not None:
                return values
            entries = self._entries.get_many(keys)
            if None in entries:
                return one_by_one
            if any(map(_objects, entries)):  # values with objects (arrays...)
                found = tp.cast("list[Entry]", entries)
                reader = self.cell.reader()  # as the store is now, for this block
                kept = self.cell.read_kept(found, reader)  # all from maps kept: together
                if kept is not None:
                    return kept
                return map(self._read, keys, found, itertools.repeat(reader))  # one at a time
            return self.cell.read_many(tp.cast("list[Entry]", entries))
        except CorruptArtifactError:  # one by one: the damaged ones warn and recompute
            return one_by_one

    def __getitem__(self, key: str) -> tp.Any:
        if self._waiting:
            self.settle((key,))
        if key in self._deferred:
            self._resume(key)
        if key in self._fresh:
            return self._fresh[key]
        return self._read(key, self._entry(key))

    def _read(self, key: str, entry: Entry, reader: ObjectReader | None = None) -> tp.Any:
        try:
            return self.cell.read(entry, reader)
        except Exception as error:
            from exca.store import CorruptArtifactError

            if not isinstance(error, CorruptArtifactError):
                raise
            self.cell.warn_corrupt(key, error)
            self._entries.discard(key)
            self._compute([key], damaged=(key,))
            self.settle((key,))
            if key in self._fresh:
                return self._fresh[key]
            return self.cell.read(self._entries[key])

    def _entry(self, key: str) -> Entry:
        entry = self._entries.get(key) or self.cell.entry(key)
        if entry is None:
            raise RuntimeError(
                f"the work for {self.cell.cache_folder}[{key!r}] completed without storing "
                "its result; is another process clearing this cache?"
            )
        return entry


def _upstream_state(
    inputs: StepItems, keys: list[str], reading: bool
) -> tuple[dict[str, Failure], list[str]]:
    """Keys with nothing stored upstream to compute from: failed there without a cached
    error (their work stopped or died), or left there by fail fast (unless ``reading``:
    then computed upstream now)."""
    source = inputs._source
    if not isinstance(source, CellSource):
        return {}, []
    if reading:
        source.complete(keys)
    else:
        source.settle(keys)
    waiting = [key for key in keys if key in source._deferred] if source._deferred else []
    fresh = source._fresh
    if not fresh:
        return {}, waiting
    failed = {key: f for key in keys if (f := fresh.get(key)) is not None and f.origin is None}
    return failed, waiting
