"""``ThreadPool`` and ``ProcessPool``: units of work run in parallel on a local pool.

A dispatch of ``n`` missing items becomes ``min(max_jobs, n)`` units, each run by its own
worker, whatever the number of cores (the last process worker still running may leave
the rest of its unit to fresh ones). Workers write to the store; the driver reads back.
Process workers are forked, so steps defined in a script's ``__main__`` work; each unit is
pickled in the driver before anything is submitted, so a step that cannot be sent to
another process is named in a clear error before any work starts.
"""

from __future__ import annotations

import contextlib
import functools
import typing as tp
import weakref

import pydantic

from .._work import load_worker_modules, run_in_worker, run_pickled
from .base import Backend, log_info

if tp.TYPE_CHECKING:
    from concurrent import futures

    from exca.store.owner import Owner

    from .._work import UnitResult, WorkUnit

__all__ = ["ThreadPool", "ProcessPool", "pickled_unit"]


class _FutureOutcome:
    """A unit's outcome as a pool future (``result()`` waits; raises if the worker died)."""

    __slots__ = ("_future",)

    def __init__(self, future: futures.Future[UnitResult]) -> None:
        self._future = future

    def result(self) -> UnitResult | None:
        return self._future.result()

    def done(self) -> bool:
        return self._future.done()

    def job_owner(self) -> Owner | None:
        return None  # (a thread of the driver)


class _PoolBackend(Backend):
    """Base of the ``concurrent.futures`` pool backends."""

    max_jobs: int | None = pydantic.Field(128, gt=0)

    def _unit_limits(self, items: int) -> tuple[int, int]:
        return (items if self.max_jobs is None else min(self.max_jobs, items)), 1


class ThreadPool(_PoolBackend):
    """Thread pool execution + caching."""

    def _execute(self, units: tp.Sequence[WorkUnit]) -> tp.Sequence[_FutureOutcome]:
        if not units:
            return []
        from concurrent import futures

        pool = futures.ThreadPoolExecutor(len(units), thread_name_prefix="exca-unit")
        try:
            submitted = [pool.submit(run_in_worker, unit) for unit in units]
        finally:
            pool.shutdown(wait=False)  # submitted units still run
        log_info("sent %s to %d thread(s)", _describe(units), len(units))
        return [_FutureOutcome(future) for future in submitted]


class ProcessPool(_PoolBackend):
    """Process pool execution + caching."""

    def _execute(self, units: tp.Sequence[WorkUnit]) -> tp.Sequence[_ProcessOutcome]:
        if not units:
            return []
        import multiprocessing

        payloads = [pickled_unit(unit, "a process pool") for unit in units]
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        load_worker_modules()  # (inherited by the forked workers)
        # one process per unit: a worker that dies takes no other unit's work with it
        with _heap_frozen():
            outcomes = [_ProcessOutcome(context, payload) for payload in payloads]
        for outcome in outcomes:
            outcome.siblings = outcomes
        log_info("sent %s to %d process(es)", _describe(units), len(units))
        return outcomes


@contextlib.contextmanager
def _heap_frozen() -> tp.Iterator[None]:
    """The driver's objects hidden from the garbage collector while workers fork.

    A worker's full collections then never walk the objects it inherited: walking them
    costs time, and copies every page of the driver's heap into the worker (seconds for
    a driver holding millions of objects; the ``gc.freeze`` advice for fork without
    exec). The driver's objects are unfrozen right after the forks. Nothing is done
    when objects are frozen already (the caller's own freeze: unfreezing would undo it).
    """
    import gc

    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class _ProcessOutcome:
    """A unit run by a process of its own; ``result()`` waits for its report (a worker
    that died before reporting raises with its exit code), not for its exit.

    Balance: units are equal shares, but cores are not equally fast (another program
    runs on one), so one worker may end well before another. A driver waiting for the
    last unit of a dispatch still running (``siblings``: the dispatch's units) asks its
    worker for the rest: the worker stops between two items if what it has not started
    is worth a dispatch of its own (see ``_work.leave_rest_when``), and reports those
    items as left, for the driver to compute on read over fresh workers (as it computes
    the items fail fast left); at most ``max_jobs`` workers compute at a time throughout.
    """

    def __init__(self, context: tp.Any, payload: bytes) -> None:
        self._receive, send = context.Pipe(duplex=False)  # (the worker's report)
        # (the driver's asking for the rest: a pipe of its own, as a socket closed with a
        # request unread would reset the connection, the report unread with it)
        asked, self._ask = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_run_in_child, args=(payload, send, asked), name="exca-unit", daemon=False
        )
        self._process.start()
        send.close()  # (the child's copy stays open: EOF here means the child is gone)
        asked.close()
        self.siblings: list[_ProcessOutcome] = [self]
        _watch_exit()
        _RUNNING.add(self)

    def done(self) -> bool:
        """Whether the process has ended (its sentinel is ready; nothing is reaped)."""
        from multiprocessing.connection import wait

        return bool(wait([self._process.sentinel], timeout=0))

    def job_owner(self) -> Owner | None:
        return None  # (a child of the driver: it takes its claim over when it starts)

    def result(self) -> UnitResult | None:
        import pickle

        from ..errors import WorkerDiedError

        try:
            self._wait_last()
            ok, message = pickle.loads(self._receive.recv_bytes())
        except KeyboardInterrupt:  # the driver's Ctrl-C: its workers stop too
            _interrupt_workers()
            raise
        except EOFError:
            self._process.join()
            raise WorkerDiedError(
                f"the worker process {self._process.pid} ended (exit code "
                f"{self._process.exitcode}) before reporting; its items not stored are not "
                "cached, a next run computes them"
            ) from None
        finally:
            self._receive.close()
            self._ask.close()
            _RUNNING.discard(self)
        # the worker has published its items and reported: it only exits now. Its exit
        # (milliseconds of teardown) is not waited for, so that its items are read at
        # once; it is reaped here at a later unit's report, or by multiprocessing at the
        # next process start or at exit, as any ended child
        _reap_ended_children()
        if not ok:
            raise message
        return tp.cast("UnitResult", message)

    def _wait_last(self) -> None:
        """Wait until this unit reports, or is the last of its dispatch running: then
        ask its worker for the rest (its report is then read as any)."""
        from multiprocessing.connection import wait

        if len(self.siblings) < 2:
            return  # (no other worker of this dispatch to be idle: never asked)
        others = [o._receive for o in self.siblings if o is not self and not o._receive.closed]
        others = [other for other in others if not other.poll()]  # (not reported yet)
        while others:
            ready = wait([self._receive, *others])
            if self._receive in ready:
                return
            others = [other for other in others if other not in ready]
        with contextlib.suppress(OSError):  # (a worker that ended meanwhile: EOF follows)
            self._ask.send_bytes(b"rest")


def _reap_ended_children() -> None:
    import multiprocessing

    multiprocessing.active_children()  # (joins the children that have ended, no waiting)


_RUNNING: weakref.WeakSet[_ProcessOutcome] = weakref.WeakSet()  # (their results unread)


_STOP_GRACE_S = 2.0  # after a Ctrl-C, how long workers get to stop before they are killed


def _interrupt_workers() -> None:
    """Stop the worker processes still running, as a terminal's Ctrl-C does: SIGINT,
    sent again every 0.1 s for ``_STOP_GRACE_S`` (a signal that reaches a child while it
    is being set up after ``fork`` is dropped: its handlers swallow the interrupt), then
    SIGKILL for those still running; a driver exits only once its workers have (they
    are not daemons, so that they may start processes of their own). A killed worker's
    items are not cached; its claim is taken over as any dead process's."""
    import os
    import signal
    import time
    from multiprocessing.connection import wait

    deadline = time.monotonic() + _STOP_GRACE_S
    while True:
        running = [o for o in list(_RUNNING) if not o.done() and o._process.pid is not None]
        if not running:
            return
        kill = time.monotonic() > deadline
        for outcome in running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(outcome._process.pid, signal.SIGKILL if kill else signal.SIGINT)
        if kill:
            return
        # until one of them ends (then at once: the last one's end lets the driver go)
        wait([outcome._process.sentinel for outcome in running], timeout=0.1)


@functools.cache
def _watch_exit() -> None:
    import atexit  # (registered after multiprocessing's own exit hook: runs before it)

    atexit.register(_interrupt_workers_if_interrupted)


def _interrupt_workers_if_interrupted() -> None:
    """At exit after a Ctrl-C (an uncaught ``KeyboardInterrupt``), the workers still
    running are interrupted too, before the driver waits for them to end."""
    import sys

    if isinstance(getattr(sys, "last_value", None), KeyboardInterrupt):
        _interrupt_workers()


def _run_in_child(payload: bytes, send: tp.Any, asked: tp.Any) -> None:
    import pickle
    import traceback

    from .._work import leave_rest_when

    leave_rest_when(asked.poll)  # (the driver's only message: it wants the rest)
    try:
        report: tuple[bool, tp.Any] = (True, run_pickled(payload))
    except BaseException as error:  # noqa: BLE001 - reported to the driver, which raises it
        report = (False, error)
    try:
        data = pickle.dumps(report)
    except Exception:  # noqa: BLE001 - an exception that does not pickle: its text travels
        text = "".join(traceback.format_exception(report[1]))
        data = pickle.dumps((False, RuntimeError(f"a worker failed:\n{text}")))
    send.send_bytes(data)
    send.close()


def pickled_unit(
    unit: WorkUnit, where: str, dumps: tp.Callable[[tp.Any], bytes] | None = None
) -> bytes:
    """``unit`` pickled, or a clear error naming what cannot be sent to ``where``."""
    import pickle

    from ..errors import UnpicklableWorkError

    dumps = dumps or pickle.dumps
    try:
        return dumps(unit)
    except Exception as error:  # noqa: BLE001 - re-raised below with what to do
        culprit = f"step {type(unit.step).__name__}"
        try:
            dumps(unit.step)
        except Exception:  # noqa: BLE001 - the step is the culprit, as assumed
            pass
        else:
            culprit = f"an input of step {type(unit.step).__name__}"
        raise UnpicklableWorkError(
            f"cannot send {unit.label()} to {where}: {culprit} cannot be pickled "
            f"({type(error).__name__}: {error}). Define step classes at the top level of a "
            "module or script (not inside a function), and pass inputs that pickle; or use "
            "infra backend 'Cached' or 'ThreadPool', which run in this process"
        ) from error


def _describe(units: tp.Sequence[WorkUnit]) -> str:
    items = sum(len(unit.keys) for unit in units)
    return f"{items} item(s) of {type(units[0].step).__name__} in {len(units)} unit(s)"
