"""Applying a step to a stream of items, one failure at a time (``_run`` and ``_run_batch``)."""

from __future__ import annotations

import collections
import typing as tp

from .errors import BatchProtocolError
from .identity import NoValue

if tp.TYPE_CHECKING:
    from .base import Step

__all__ = ["Failure", "apply_each", "apply_batch", "step_label"]


class Failure:
    """An item whose computation raised; ``origin`` is the cell that cached the error, if any."""

    __slots__ = ("error", "origin")

    def __init__(self, error: BaseException, origin: str | None = None) -> None:
        self.error = error
        self.origin = origin


def step_label(step: Step) -> str:
    """Short description of a step for error notes: class and non-default fields."""
    fields = step.model_dump(mode="json", exclude_defaults=True, exclude={"infra"})
    fields.pop(type(step)._discriminator_key, None)
    inner = ", ".join(f"{k}={v!r:.40}" for k, v in fields.items())
    return f"{type(step).__name__}({inner})"


def _failed(step: Step, error: Exception) -> Failure:
    error.add_note(f"  -> in step {step_label(step)}")
    return Failure(error)


def apply_each(step: Step, stream: tp.Iterable[tp.Any]) -> tp.Iterator[tp.Any]:
    """``step._run`` on each value; failures pass through, new errors become failures."""
    for value in stream:
        if isinstance(value, Failure):
            yield value
            continue
        try:
            yield step._run() if isinstance(value, NoValue) else step._run(value)
        except Exception as error:  # noqa: BLE001 - the item fails, the others go on
            yield _failed(step, error)


class _Slots:
    """Items fed to ``_run_batch`` and not yet answered, in order, with failures between."""

    def __init__(self, step: Step, stream: tp.Iterator[tp.Any]) -> None:
        self.step = step
        self.stream = stream
        self.queue: collections.deque[list[tp.Any]] = collections.deque()  # [done, outcome]
        self.exhausted = False

    def feed(self) -> tp.Iterator[tp.Any]:
        for value in self.stream:
            if isinstance(value, Failure):
                self.queue.append([True, value])
            else:
                self.queue.append([False, None])
                yield value
        self.exhausted = True

    def ready(self) -> tp.Iterator[tp.Any]:
        while self.queue and self.queue[0][0]:
            yield self.queue.popleft()[1]

    def answer(self, result: tp.Any) -> None:
        if not self.queue:
            raise BatchProtocolError(
                f"{step_label(self.step)}._run_batch yielded a result before consuming its "
                "input, or more results than inputs; yield exactly one result per input"
            )
        self.queue[0][:] = [True, result]

    def fail_pending(self, error: Exception) -> None:
        """Fail the unanswered inputs (at least one, so a restart always progresses)."""
        failure = _failed(self.step, error)
        pending = [slot for slot in self.queue if not slot[0]]
        if not pending:
            for _ in self.feed():  # _run_batch raised before consuming: the next input fails
                pending = [self.queue[-1]]
                break
        for slot in pending:
            slot[:] = [True, failure]

    def check_complete(self) -> None:
        missing = sum(1 for done, _ in self.queue if not done)
        if missing or not self.exhausted:
            raise BatchProtocolError(
                f"{step_label(self.step)}._run_batch returned with {missing} consumed input(s) "
                "unanswered"
                + ("" if self.exhausted else " and inputs left unconsumed")
                + "; yield exactly one result per input, in order"
            )


def apply_batch(step: Step, stream: tp.Iterable[tp.Any]) -> tp.Iterator[tp.Any]:
    """``step._run_batch`` over the values; after an error it restarts on the rest.

    The inputs consumed but not answered when ``_run_batch`` raised fail with that
    error; results yielded before stay valid.
    """
    slots = _Slots(step, iter(stream))
    while not slots.exhausted:
        try:
            for result in step._run_batch(slots.feed()):
                yield from slots.ready()
                slots.answer(result)
                yield from slots.ready()
        except BatchProtocolError:
            raise
        except Exception as error:  # noqa: BLE001 - these items fail, the rest go on
            slots.fail_pending(error)
            yield from slots.ready()
            continue
        slots.check_complete()
        yield from slots.ready()
