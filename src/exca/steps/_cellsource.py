"""The items of a cached boundary: read from its cell, the missing ones computed as work."""

from __future__ import annotations

import operator
import time
import typing as tp

from ._batch import Failure
from ._cells import new_entry_map

_BLOCK = 256  # values read together; inline payloads are small (at most 64 KiB each)
_FEW_KEYS = 4  # values read one by one
_objects = operator.attrgetter("objects")

if tp.TYPE_CHECKING:
    from exca.store import Entry
    from exca.store.entry_map import EntryMap

    from ._cells import Cell
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

    def prepare(self, keys: tp.Sequence[str]) -> None:
        """Compute what ``keys`` miss in the cell (for the mode), then note their entries."""
        todo = [key for key in keys if key not in self._entries] if self._entries else keys
        if not todo:
            return
        found = self.cell.entries(todo)  # a new map: kept as is when nothing is noted yet
        misses = self._misses(todo, found)
        if self._entries:
            self._entries.update(found)
        else:
            self._entries = found
        if misses:
            self._compute(misses)

    def _misses(self, keys: tp.Sequence[str], found: EntryMap) -> list[str]:
        mode = self.ctx.mode
        if mode in ("cached", "read-only"):  # only force and retry recompute cached items
            misses = [key for key in keys if key not in found] if len(found) < len(keys) else []
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

    def _compute(self, keys: list[str]) -> None:
        inputs = self.inputs.select(keys)
        inputs.prepare()  # upstream cached boundaries compute here, before the work ships
        work = CellWork(self.cell, self.step, self.ctx, inputs)
        before = {key: self.cell.known.get(key) for key in keys}
        try:
            assert self.step.infra is not None
            self.step.infra._execute([work])
        finally:
            self._fresh.update(work.failures)
            if self.ctx.mode in ("force", "retry"):
                self.cell.attempted.update(keys)
            for key, entry in before.items():  # not rewritten here: maybe by another process
                if self.cell.known.get(key) is entry:
                    self.cell.known.discard(key)
            self._entries.update(self.cell.entries(keys))

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

        one_by_one = (self[key] for key in keys)
        if not self._fresh.keys().isdisjoint(keys):
            return one_by_one
        try:
            values = self.cell.read_inline(self._entries, keys)  # small values: fastest
            if values is not None:
                return values
            entries = self._entries.get_many(keys)
            if None in entries:
                return one_by_one
            if any(map(_objects, entries)):  # values with objects (arrays...) one at a time
                found = tp.cast("list[Entry]", entries)  # (each record decoded once, here)
                return (self._read(key, entry) for key, entry in zip(keys, found, strict=True))
            return self.cell.read_many(tp.cast("list[Entry]", entries))
        except CorruptArtifactError:  # one by one: the damaged ones warn and recompute
            return one_by_one

    def __getitem__(self, key: str) -> tp.Any:
        if key in self._fresh:
            return self._fresh[key]
        return self._read(key, self._entry(key))

    def _read(self, key: str, entry: Entry) -> tp.Any:
        try:
            return self.cell.read(entry)
        except Exception as error:
            from exca.store import CorruptArtifactError

            if not isinstance(error, CorruptArtifactError):
                raise
            self.cell.warn_corrupt(key, error)
            self._entries.discard(key)
            self._compute([key])
            return self.cell.read(self._entries[key])

    def _entry(self, key: str) -> Entry:
        entry = self._entries.get(key) or self.cell.entry(key)
        if entry is None:
            raise RuntimeError(
                f"the work for {self.cell.cache_folder}[{key!r}] completed without storing "
                "its result; is another process clearing this cache?"
            )
        return entry


class CellWork:
    """Compute some items of one cell and store them (results are read back from the cell)."""

    def __init__(self, cell: Cell, step: Step, ctx: Context, inputs: StepItems) -> None:
        self.cell = cell
        self.step = step
        self.ctx = ctx
        self.inputs = inputs
        self.failures: dict[str, Failure] = {}  # seen by the driver only when run inline

    def __call__(self) -> None:
        from ._engine import expand

        results = expand(self.step, self.ctx, self.inputs)
        inner = results._source
        if isinstance(inner, CellSource) and inner.cell.relpath == self.cell.relpath:
            if not results.pending:  # a chain's last step cached its (shared) cell already
                results.prepare()
                return
        keys = list(dict.fromkeys(self.inputs.uids))
        start = time.perf_counter()
        with self.cell.batch():
            self._store(keys, results.outcomes(), start)

    def _store(self, keys: list[str], outcomes: tp.Iterator[tp.Any], start: float) -> None:
        for key, outcome in zip(keys, outcomes, strict=True):
            duration = time.perf_counter() - start
            if not isinstance(outcome, Failure):
                self.cell.put(key, outcome, duration=duration)
            else:
                if outcome.origin != self.cell.relpath:
                    self.cell.put_error(key, outcome.error, duration=duration)
                    outcome.origin = self.cell.relpath
                self.failures[key] = outcome
            start = time.perf_counter()
