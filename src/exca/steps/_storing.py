"""Storing the computed outcomes of a cell's items: fail fast, and nothing of a broken batch.

The stream of outcomes ends after its first fresh failure (see ``_batch``): that item is
stored as an error and the items after it are left uncomputed, for the caller to compute
when they are read. A ``BatchProtocolError`` means the results cannot be matched to
their inputs (a ``_run_batch`` that dropped one serves shifted results): everything
this work stored is removed before the error goes on.
"""

from __future__ import annotations

import time
import typing as tp

from ._batch import Failure
from .errors import BatchProtocolError

if tp.TYPE_CHECKING:
    from ._cells import Cell

__all__ = ["Stored", "store_outcomes"]


class Stored(tp.NamedTuple):
    """What a work stored: its fresh failures, and the keys it left uncomputed (in order)."""

    failures: dict[str, Failure]
    left: list[str]


def store_outcomes(
    cell: Cell,
    keys: list[str],
    outcomes: tp.Iterator[tp.Any],
    stop: tp.Callable[[int, float, int], bool] | None = None,
) -> Stored:
    """Store one outcome per key, in order, until the outcomes end, or until ``stop``
    says to leave the rest uncomputed, as fail fast leaves it: it is asked from the
    second item on with the pace so far (the count of items after the first, and the
    seconds they took: the first item pays one-time costs) and the count of items left.

    Raises ``BatchProtocolError`` (with a note) after removing what it stored, if the
    outcomes do not match the keys.
    """
    failures: dict[str, Failure] = {}
    written: list[str] = []
    try:
        first = start = time.perf_counter()
        for key, outcome in zip(keys, outcomes, strict=False):  # fail fast: it may end early
            _store_one(cell, key, outcome, time.perf_counter() - start, failures)
            written.append(key)
            start = time.perf_counter()
            if len(written) == 1:
                first = start  # (the pace is taken after the first item)
            elif stop is not None and stop(
                len(written) - 1, start - first, len(keys) - len(written)
            ):
                return Stored(failures, keys[len(written) :])
        if len(written) == len(keys):
            for _ in outcomes:  # drained: lets _run_batch report extra results
                raise BatchProtocolError("more results than inputs")
    except BatchProtocolError as error:
        for key in written:
            cell.delete(key)
        error.add_note(
            f"  -> nothing of this batch is cached in {cell.cache_folder}: its results "
            f"cannot be matched to their inputs ({len(written)} stored result(s) removed)"
        )
        raise
    return Stored(failures, keys[len(written) :])


def _store_one(
    cell: Cell, key: str, outcome: tp.Any, duration: float, failures: dict[str, Failure]
) -> None:
    if not isinstance(outcome, Failure):
        cell.put(key, outcome, duration=duration)
        return
    if outcome.origin != cell.relpath:  # (never stored again in the cell it was read from)
        cell.put_error(key, outcome.error, duration=duration)
        outcome.origin = cell.relpath
    failures[key] = outcome
