"""``StepItems``: the carrier of a pipeline's items between cached boundaries.

A carrier reads one value per uid from its source (a dict, a ``CacheDict`` or a cell
of the pipeline) and applies its pending (uncached) steps lazily, as it is iterated.
Errors are per item: a failed item travels as a :class:`Failure` and is raised when
iteration reaches it; the other items are still produced.
"""

from __future__ import annotations

import collections
import functools
import itertools
import typing as tp

from . import _batch
from ._batch import Failure
from .errors import BatchProtocolError
from .identity import ModeType

if tp.TYPE_CHECKING:
    from .base import Step

__all__ = ["StepItems", "BatchProtocolError", "Failure"]


class _Source(tp.Protocol):
    """Anything indexable by uid; it may also offer ``prepare(uids)`` to compute eagerly,
    and ``blocks(uids)`` to read many values at once (iterables of one outcome per uid,
    in order)."""

    def __getitem__(self, uid: str) -> tp.Any: ...


class StepItems:
    """Pipeline carrier for inline computation between cached boundaries.

    For dict sources, uids default to the dict keys (insertion order). For CacheDict
    sources, explicit uids are required (the CacheDict may contain keys from other runs).
    Iterating yields one result per uid, in order (duplicates computed once); an item
    whose computation failed raises when reached, and iteration can continue after it.
    """

    def __init__(
        self,
        *,
        source: _Source,
        uids: tp.Sequence[str] | None = None,
        upstream: tp.Sequence[Step] = (),
        pending: tp.Sequence[Step] = (),
        mode: ModeType = "cached",
    ) -> None:
        if uids is None:
            if not isinstance(source, dict):
                raise TypeError(
                    f"StepItems over a {type(source).__name__} needs explicit uids "
                    "(only a dict source provides them, as its keys)"
                )
            uids = list(source)
        self._source = source
        self._uids = list(uids)
        self._unique: list[str] | None = None  # the uids without duplicates, in order
        self._prepared = False
        self.upstream = tuple(upstream)
        self.pending = tuple(pending)
        self.mode = mode

    @property
    def uids(self) -> list[str]:
        """The uid of every item, in order (duplicates kept)."""
        return self._uids

    def __len__(self) -> int:
        return len(self._uids)

    def __repr__(self) -> str:
        steps = ", ".join(type(s).__name__ for s in self.pending)
        return f"StepItems({len(self)} items, pending=[{steps}])"

    def __iter__(self) -> tp.Iterator[tp.Any]:
        distinct = len(self._unique_uids()) == len(self._uids)
        blocks = getattr(self._source, "blocks", None)
        if blocks is not None and distinct and not self.pending:  # read from a cell
            self.prepare()
            return _results_of_blocks(blocks(self._unique_uids()))
        outcomes = self._unique_outcomes()
        if distinct:
            return _DistinctResults(len(self._uids), outcomes)
        return _Results(self._uids, outcomes)

    def _unique_uids(self) -> list[str]:
        if self._unique is None:
            unique = list(dict.fromkeys(self._uids))
            self._unique = self._uids if len(unique) == len(self._uids) else unique
        return self._unique

    def then(self, step: Step) -> StepItems:
        """The same items, with ``step`` applied after the pending steps."""
        return StepItems(
            source=self._source,
            uids=self._uids,
            upstream=self.upstream,
            pending=(*self.pending, step),
            mode=self.mode,
        )

    def select(self, uids: tp.Sequence[str]) -> StepItems:
        """The items of these uids only (in this order)."""
        return StepItems(
            source=self._source,
            uids=uids,
            upstream=self.upstream,
            pending=self.pending,
            mode=self.mode,
        )

    def prepare(self) -> None:
        """Compute now what cached boundaries upstream need to compute for these items."""
        if self._prepared:  # the source notes what it prepared: a second call finds nothing
            return
        prepare = getattr(self._source, "prepare", None)
        if prepare is not None:
            prepare(self._unique_uids())
        self._prepared = True

    def outcomes(self, fail_fast: bool = False) -> tp.Iterator[tp.Any]:
        """One value or :class:`Failure` per unique uid, in order of first appearance;
        with ``fail_fast``, they end after the first failure computed now."""
        return self._unique_outcomes(fail_fast)

    def _unique_outcomes(self, fail_fast: bool = False) -> tp.Iterator[tp.Any]:
        self.prepare()
        source = self._source
        blocks = getattr(source, "blocks", None)  # reads many values at once
        stream: tp.Iterator[tp.Any] = (
            itertools.chain.from_iterable(blocks(self._unique_uids()))
            if blocks is not None
            else (source[uid] for uid in self._unique_uids())
        )
        for batched, group in itertools.groupby(self.pending, key=lambda s: s._batched):
            for step in group:
                apply = _batch.apply_batch if batched else _batch.apply_each
                stream = apply(step, stream, fail_fast)
        return stream


class _Results:
    """Iterator over outcomes in uid order: duplicates reuse the first, failures raise."""

    def __init__(self, uids: list[str], unique: tp.Iterator[tp.Any]) -> None:
        self._uids = uids
        self._position = 0
        self._unique = unique
        self._remaining = collections.Counter(uids)
        self._memo: dict[str, tp.Any] = {}

    def __iter__(self) -> _Results:
        return self

    def __next__(self) -> tp.Any:
        if self._position >= len(self._uids):
            for _ in self._unique:  # drained: lets _run_batch report extra results
                raise BatchProtocolError("more results than inputs")
            raise StopIteration
        uid = self._uids[self._position]
        self._position += 1
        self._remaining[uid] -= 1
        if uid in self._memo:
            outcome = self._memo[uid] if self._remaining[uid] else self._memo.pop(uid)
        else:
            outcome = next(self._unique)
            if self._remaining[uid]:
                self._memo[uid] = outcome
        if isinstance(outcome, Failure):
            raise outcome.error
        return outcome


class _DistinctResults:
    """:class:`_Results` when no uid repeats: one outcome per uid, failures raise."""

    __slots__ = ("_left", "_unique")

    def __init__(self, count: int, unique: tp.Iterator[tp.Any]) -> None:
        self._left = count
        self._unique = unique

    def __iter__(self) -> _DistinctResults:
        return self

    def __next__(self) -> tp.Any:
        if self._left <= 0:
            for _ in self._unique:  # drained: lets _run_batch report extra results
                raise BatchProtocolError("more results than inputs")
            raise StopIteration
        self._left -= 1
        outcome = next(self._unique)
        if type(outcome) is Failure:
            raise outcome.error
        return outcome


def _results_of_blocks(blocks: tp.Iterator[tp.Iterable[tp.Any]]) -> tp.Iterator[tp.Any]:
    """The outcomes of consecutive blocks, each failure raised at its place.

    ``itertools.chain`` hands out the values of a block without a Python call per value,
    and reads on from the block that raised at the next call (so iteration goes on after
    a failure); after an unexpected error, iteration ends, as a generator's would.
    """
    broken: list[BaseException] = []
    return itertools.chain.from_iterable(
        map(
            functools.partial(_checked, broken=broken),
            itertools.takewhile(lambda _: not broken, blocks),
        )
    )


def _checked(block: tp.Iterable[tp.Any], broken: list[BaseException]) -> tp.Iterable[tp.Any]:
    if type(block) is list and Failure not in set(map(type, block)):
        return block
    return _Raising(iter(block), broken)


class _Raising:
    """A block's outcomes, raising its failures."""

    __slots__ = ("_outcomes", "_broken")

    def __init__(self, outcomes: tp.Iterator[tp.Any], broken: list[BaseException]) -> None:
        self._outcomes = outcomes
        self._broken = broken

    def __iter__(self) -> _Raising:
        return self

    def __next__(self) -> tp.Any:
        if self._broken:  # ended by an unexpected error (the block may be no generator)
            raise StopIteration
        try:
            outcome = next(self._outcomes)
        except StopIteration:
            raise
        except BaseException as error:
            self._broken.append(error)
            raise
        if type(outcome) is Failure:
            raise outcome.error
        return outcome
