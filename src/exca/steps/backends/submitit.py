"""The submitit backends: ``LocalProcess``, ``SubmititDebug``, ``Slurm`` and ``Auto``.

A dispatch becomes at most ``max_jobs`` units of at least ``min_items_per_job`` items,
submitted as ONE job array (on Slurm) through submitit, whose folder is the step folder's
``logs``. Each job runs its unit and writes to the store; the driver reads back. Which job
computed which item is recorded in the store, so ``lookup(x).job()`` finds its logs from
any process. Only resource fields that are set are forwarded; the Slurm-only ones with
submitit's ``slurm_`` prefix.
"""

from __future__ import annotations

import time
import typing as tp

import pydantic

from .._work import run_pickled
from .base import Backend, log_info
from .pools import pickled_unit

if tp.TYPE_CHECKING:
    from exca.store.owner import Owner

    from .._work import UnitResult, WorkUnit

__all__ = ["LocalProcess", "SubmititDebug", "Slurm", "Auto", "job_of"]

_LOG_TAIL_LINES = 20
_POLL_MIN_S, _POLL_MAX_S = 0.05, 1.0  # pauses between two looks at a job that runs
_SHARED = ("timeout_min", "nodes", "tasks_per_node", "cpus_per_task", "gpus_per_node", "mem_gb")
_SLURM_ONLY = ("constraint", "partition", "account", "qos", "additional_parameters", "use_srun")


class _SubmititBackend(Backend):
    """Base of the submitit backends: job resources and array splitting."""

    job_name: str | None = None
    timeout_min: int | None = None
    nodes: int | None = None
    tasks_per_node: int | None = None
    cpus_per_task: int | None = None
    gpus_per_node: int | None = None
    mem_gb: float | None = None
    max_jobs: int = pydantic.Field(128, gt=0)
    min_items_per_job: int = pydantic.Field(1, gt=0)

    _CLUSTER: tp.ClassVar[str | None] = "local"  # submitit's cluster name (None: detected)

    def _unit_limits(self, items: int) -> tuple[int, int]:
        return self.max_jobs, self.min_items_per_job

    def _submitit_parameters(self, jobs: int) -> dict[str, tp.Any]:
        """The set resource fields, as ``AutoExecutor.update_parameters`` names them."""
        params = {name: getattr(self, name) for name in _SHARED if getattr(self, name) is not None}
        if self.job_name is not None:
            params["name"] = self.job_name
        return params

    def _cluster(self) -> str | None:
        return self._CLUSTER

    def _execute(self, units: tp.Sequence[WorkUnit]) -> tp.Sequence[_JobOutcome]:
        if not units:
            return []
        import cloudpickle  # (submitit's own: classes of a script's __main__ go by value)
        import submitit
        from submitit.helpers import clean_env

        cluster = self._cluster()
        where = f"a submitit job ({cluster or 'auto'})"
        payloads = [pickled_unit(unit, where, cloudpickle.dumps) for unit in units]
        folder = _logs_folder(units[0])
        executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
        executor.update_parameters(**self._submitit_parameters(len(units)))
        with clean_env(), executor.batch():  # one job array for the whole dispatch
            jobs = [executor.submit(run_pickled, payload) for payload in payloads]
        _record_jobs(units, jobs, executor.cluster)
        log_info(
            "submitted %d job(s) on %s for %d item(s) of %s: ids %s, logs in %s",
            len(jobs),
            executor.cluster,
            sum(len(unit.keys) for unit in units),
            type(units[0].step).__name__,
            ", ".join(str(job.job_id) for job in jobs),
            folder.parent,
        )
        submitted = None if executor.cluster == "debug" else time.monotonic()
        return [_JobOutcome(job, executor.cluster, submitted) for job in jobs]


class LocalProcess(_SubmititBackend):
    """Subprocess execution + caching."""


class SubmititDebug(_SubmititBackend):
    """Debug executor (inline but simulates submitit)."""

    _CLUSTER: tp.ClassVar[str | None] = "debug"


class Slurm(_SubmititBackend):
    """Slurm cluster execution + caching. Fails on non-slurm machines."""

    constraint: str | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    additional_parameters: dict[str, int | str | float | bool] | None = None
    use_srun: bool = False

    _CLUSTER: tp.ClassVar[str | None] = "slurm"

    def _submitit_parameters(self, jobs: int) -> dict[str, tp.Any]:
        params = super()._submitit_parameters(jobs)
        for name in _SLURM_ONLY:  # use_srun is always sent: submitit's default differs
            value = getattr(self, name)
            if value is not None:
                params[f"slurm_{name}"] = value
        params["slurm_array_parallelism"] = jobs
        return params

    def _cluster(self) -> str | None:
        import shutil

        from ..errors import SlurmUnavailableError

        if shutil.which("sbatch") is None:
            raise SlurmUnavailableError(
                f"backend {type(self).__name__!r} needs a Slurm cluster, but no 'sbatch' "
                "command is on PATH on this machine; run where Slurm is installed, or use "
                "backend 'Auto' (Slurm when available, else local processes) or 'LocalProcess'"
            )
        return self._CLUSTER


class Auto(Slurm):
    """Auto-detect executor (local or Slurm). Slurm fields only apply on slurm."""

    _CLUSTER: tp.ClassVar[str | None] = None

    def _cluster(self) -> str | None:
        return None  # submitit's choice: Slurm where srun is on PATH, else local processes


class _JobOutcome:
    """A unit's outcome as a submitit job: ``result()`` waits; a job that died raises
    with its id, state, log paths and the tail of its error log. A Slurm job, and a
    local job, outlive their driver: the unit's claim is handed over to the job at
    submission (``job_owner``)."""

    __slots__ = ("job", "cluster", "_submitted")

    def __init__(self, job: tp.Any, cluster: str, submitted: float | None) -> None:
        self.job = job
        self.cluster = cluster
        # when its array was submitted (monotonic clock); None for a debug job, which
        # runs when asked for its result and is never polled
        self._submitted = submitted

    def done(self) -> bool:
        if self.cluster == "debug":
            return False  # (its done() runs the job: it runs in the driver, when read)
        return bool(self.job.done())

    def job_owner(self) -> Owner | None:
        from exca.store.owner import job_owner, local_job_owner

        if self.cluster == "slurm":
            return job_owner(str(self.job.job_id))
        if self.cluster == "local":  # (its id is its controller's pid; that process and
            # the job's task outlive a driver that exits: submitit never stops them then)
            return local_job_owner(int(self.job.job_id))
        return None  # (a debug job runs in the driver, when its items are read)

    def result(self) -> UnitResult | None:
        job = self.job
        if self._submitted is not None:
            _wait_done(job, self._submitted)
        try:
            return tp.cast("UnitResult", job.result())
        except Exception as error:
            error.add_note(_job_context(job))
            raise


def _wait_done(job: tp.Any, submitted: float) -> None:
    """Until ``job`` is done. submitit's own wait looks once a second, which a short job
    array pays at its end; here the job's result file is looked for (``done``: a few
    ``stat`` calls, the cluster asked at submitit's own pace however often it is
    called) after pauses of a tenth of the time since the array was submitted, from
    50 ms up to 1 s: a job is seen done late by at most a tenth of that time (and at
    most a second), for about 25 looks per tenfold of waiting, however many jobs."""
    while not job.done():
        since = time.monotonic() - submitted
        time.sleep(min(_POLL_MAX_S, max(_POLL_MIN_S, since / 10)))


def _job_context(job: tp.Any) -> str:
    try:
        state = job.state
    except Exception as error:  # noqa: BLE001 - advisory context of an error being raised
        state = f"unknown ({error})"
    paths = getattr(job, "paths", None)
    logs = f"; logs: {paths.stdout} and {paths.stderr}" if paths is not None else ""
    tail = ""
    try:
        text = job.stderr() or ""
        tail = "\n".join(text.splitlines()[-_LOG_TAIL_LINES:])
    except Exception:  # noqa: BLE001, S110 - no log to show
        pass
    note = f"submitit job {job.job_id} ended in state {state}{logs}"
    return note + (f"\nlast lines of its error log:\n{tail}" if tail else "")


def _logs_folder(unit: WorkUnit) -> tp.Any:
    from exca.store.step_folders import logs_folder

    folder = unit.cell.backend.folder
    assert folder is not None
    return logs_folder(folder.expanduser().absolute(), unit.cell.relpath)


def _record_jobs(units: tp.Sequence[WorkUnit], jobs: tp.Sequence[tp.Any], cluster: str) -> None:
    """Which job computes which item, in the step folder (for ``job()`` from any process)."""
    from exca.store import step_folders

    if cluster == "debug":  # a debug job cannot be found again from its folder
        return
    store = units[0].cell.backend._open_store()
    records = step_folders.shared_namespace(store, step_folders.jobs_relpath(units[0].cell.relpath))
    folder = str(_logs_folder(units[0]))
    with records.batch():
        for unit, job in zip(units, jobs, strict=True):
            record = {"cluster": cluster, "job_id": str(job.job_id), "folder": folder}
            for key in unit.keys:
                records.put(key, record)


def job_of(backend: Backend, relpath: str, key: str) -> tp.Any:
    """The submitit job recorded for ``key`` of a cell, or None."""
    from exca.store import step_folders

    if backend.folder is None:
        return None
    store = backend._open_store()
    records = step_folders.shared_namespace(store, step_folders.jobs_relpath(relpath))
    entry = records.entry(key)
    if entry is None:
        return None
    record = records.load(entry)
    import submitit

    kinds = {"local": submitit.LocalJob, "slurm": submitit.SlurmJob}
    kind = kinds.get(record["cluster"])
    return None if kind is None else kind(folder=record["folder"], job_id=record["job_id"])
