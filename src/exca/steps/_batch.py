"""Applying a step to a stream of items, one failure at a time (``_run`` and ``_run_batch``)."""

from __future__ import annotations

import collections
import typing as tp

from .errors import BatchProtocolError
from .identity import NoValue

if tp.TYPE_CHECKING:
    from .base import Step

__all__ = ["Failure", "apply_each", "apply_batch", "check_inputs", "step_label"]


class Failure:
    """An item whose computation raised; ``origin`` is the cell that cached the error, if
    any; ``fresh`` when it was raised in this run (not re-read from a cache): the first
    fresh failure stops a cached computation (fail fast)."""

    __slots__ = ("error", "origin", "fresh")

    def __init__(self, error: BaseException, origin: str | None = None, fresh: bool = True) -> None:
        self.error = error
        self.origin = origin
        self.fresh = fresh


def step_label(step: Step) -> str:
    """Short description of a step for error notes: class and non-default fields."""
    fields = step.model_dump(mode="json", exclude_defaults=True, exclude={"infra"})
    fields.pop(type(step)._discriminator_key, None)
    inner = ", ".join(f"{k}={v!r:.40}" for k, v in fields.items())
    return f"{type(step).__name__}({inner})"


def check_inputs(steps: tp.Sequence[Step], values: tp.Sequence[tp.Any]) -> None:
    """Refuse, before anything runs, what the ``_run`` of the pipeline's steps cannot take:
    an input to a first step that takes none, none to one that needs one, a later step
    that takes none (it gets the result before it).

    A ``TypeError`` about the call or the class, not about an item: never cached.
    """
    first, *later = steps
    kinds = set(map(type, values))
    rule = type(first)._input_rule
    if rule is False and kinds - {NoValue}:
        given = next(v for v in values if not isinstance(v, NoValue))
        raise TypeError(
            f"{type(first).__name__}._run takes no input, but the step was given one "
            f"({given!r:.60}); call run() without argument, or give _run a parameter"
        )
    if rule is True and NoValue in kinds:
        raise TypeError(
            f"{type(first).__name__}._run needs an input, but the step was run without "
            "one; pass it: run(value) or run_many(values)"
        )
    for before, step in zip(steps, later, strict=False):
        if type(step)._input_rule is False:
            raise TypeError(
                f"{type(step).__name__}._run takes no input, but it follows "
                f"{type(before).__name__} in a chain, whose result it is given; give _run a "
                "parameter, or put the step first"
            )


def _failed(step: Step, error: Exception) -> Failure:
    error.add_note(f"  -> in step {step_label(step)}")
    return Failure(error)


def apply_each(
    step: Step, stream: tp.Iterable[tp.Any], fail_fast: bool = False
) -> tp.Iterator[tp.Any]:
    """``step._run`` on each value; failures pass through, new errors become failures.

    With ``fail_fast``, the stream ends after the first fresh failure (nothing after it
    is computed); without, the others go on.
    """
    for value in stream:
        if isinstance(value, Failure):
            yield value
            if fail_fast and value.fresh:
                return
            continue
        try:
            result = step._run() if isinstance(value, NoValue) else step._run(value)
        except MemoryError:  # about the machine, not the item: never cached
            raise
        except Exception as error:  # noqa: BLE001 - the item fails, the others go on
            yield _failed(step, error)
            if fail_fast:
                return
            continue
        yield result


class _Slots:
    """Items fed to ``_run_batch`` and not yet answered, in order, with failures between."""

    def __init__(self, step: Step, stream: tp.Iterator[tp.Any], fail_fast: bool) -> None:
        self.step = step
        self.stream = stream
        self.fail_fast = fail_fast
        self.queue: collections.deque[list[tp.Any]] = collections.deque()  # [done, outcome]
        self.exhausted = False

    def feed(self) -> tp.Iterator[tp.Any]:
        """The values to compute; with ``fail_fast``, they end at a fresh failure."""
        for value in self.stream:
            if isinstance(value, Failure):
                self.queue.append([True, value])
                if self.fail_fast and value.fresh:
                    break  # nothing after a fresh failure is computed: the input ends
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


def apply_batch(
    step: Step, stream: tp.Iterable[tp.Any], fail_fast: bool = False
) -> tp.Iterator[tp.Any]:
    """``step._run_batch`` over the values; after an error it restarts on the rest.

    The inputs consumed but not answered when ``_run_batch`` raised fail with that
    error; results yielded before stay valid. With ``fail_fast``, the stream ends after
    the first fresh failure instead (``_run_batch`` sees its input end there).
    """
    slots = _Slots(step, iter(stream), fail_fast)
    while not slots.exhausted:
        try:
            for result in step._run_batch(slots.feed()):
                yield from slots.ready()
                slots.answer(result)
                yield from slots.ready()
        except (BatchProtocolError, MemoryError):  # a broken step, or the machine: not items
            raise
        except Exception as error:  # noqa: BLE001 - these items fail, the rest go on
            slots.fail_pending(error)
            yield from slots.ready()
            if fail_fast:
                return
            continue
        slots.check_complete()
        yield from slots.ready()
