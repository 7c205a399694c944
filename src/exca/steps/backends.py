"""Backend configs: where a step caches (``folder``, ``mode``, ``keep_in_ram``) and how it runs.

Modes, caching and coordination are done once, above the backends; a backend only
decides how a batch of work executes (:meth:`Backend._execute`). ``Cached`` runs it
inline. The pool and submitit backends validate in configs today so they can be
swapped in; executing work on them arrives with the issue that implements them.
"""

from __future__ import annotations

import os
import typing as tp
from pathlib import Path

import pydantic

from ._discriminated import DiscriminatedModel
from .identity import ModeType
from .lookup import LookupHandle, StepPaths

__all__ = [
    "Backend",
    "Cached",
    "ThreadPool",
    "ProcessPool",
    "LocalProcess",
    "SubmititDebug",
    "Slurm",
    "Auto",
    "LookupHandle",
    "StepPaths",
]


class Work(tp.Protocol):
    """A batch of work: computes some items of one cell and stores them (never returns them)."""

    def __call__(self) -> None: ...


class Backend(DiscriminatedModel, discriminator_key="backend"):
    """Base class for execution backends with integrated caching.

    Parameters
    ----------
    folder:
        Root of the artifact store holding the step's cache (``None``: inherited from an
        enclosing step, required at run time).
    mode:
        ``"cached"`` (default) reuses results; ``"force"`` recomputes once per step
        instance, and everything downstream; ``"retry"`` recomputes cached errors once;
        ``"read-only"`` raises instead of computing a missing result.
    keep_in_ram:
        Keep values read or written in RAM, per backend instance.
    read_folders:
        Store folders searched for results after ``folder`` and never written (a
        team's cache): hits there are served as they are, misses computed into
        ``folder``. Not part of a result's identity; inherited with ``folder``.
    """

    folder: Path | None = None
    read_folders: list[Path] = []
    mode: ModeType = "cached"
    keep_in_ram: bool = False
    _frozen: bool = pydantic.PrivateAttr(default=False)
    _ram: dict[tuple[str, str], tp.Any] = pydantic.PrivateAttr(default_factory=dict)
    _store: tp.Any = pydantic.PrivateAttr(default=None)

    def __setattr__(self, name: str, value: tp.Any) -> None:
        if not name.startswith("_") and self._frozen:
            raise RuntimeError(
                f"cannot set {type(self).__name__}.{name}: the backend is frozen since its "
                "step ran or was looked up; use step.clone({'infra.%s': ...}) instead" % name
            )
        super().__setattr__(name, value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Backend):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    def __getstate__(self) -> dict[tp.Any, tp.Any]:
        state = super().__getstate__()
        private = dict(state.get("__pydantic_private__") or {})
        private.update(
            _frozen=False, _ram={}, _store=None
        )  # a fresh runtime state after unpickling
        return {**state, "__pydantic_private__": private}

    def model_copy(
        self, *, update: tp.Mapping[str, tp.Any] | None = None, deep: bool = False
    ) -> tp.Self:
        copied = super().model_copy(update=update, deep=deep)
        copied._frozen, copied._ram, copied._store = False, {}, None
        return copied

    def _open_store(self) -> tp.Any:
        """The artifact store rooted at ``folder`` (one per folder and process)."""
        private = self.__pydantic_private__  # (not self._store: pydantic's slow fallback)
        assert private is not None
        store = private["_store"]
        if store is None:
            if self.folder is None:
                raise RuntimeError(f"{type(self).__name__} has no folder to store results in")
            store = private["_store"] = _shared_store(self.folder, self.read_folders)
        return store

    def _execute(self, work: tp.Sequence[Work]) -> None:
        """Run every batch of ``work``, returning once all of it is stored.

        The one override point of a backend. The default runs inline, in order.
        """
        for batch in work:
            batch()


_STORES: dict[tp.Any, tp.Any] = {}  # by absolute path, and by the folder as given


def _shared_store(folder: Path, read_folders: tp.Sequence[Path] = ()) -> tp.Any:
    """One ``Store`` per folder (and read folders) in a process: opening one checks its
    format marker, and those of its read folders."""
    # a relative folder is the store under the working directory of the moment
    name = (str(folder), *map(str, read_folders))
    relative = not all(Path(path).is_absolute() for path in name)
    fast_key = (name, os.getcwd()) if relative else name
    store = _STORES.get(fast_key)
    if store is not None:
        return store
    from exca.store import Store

    absolute = [Path(path).expanduser().absolute() for path in name]
    key = tuple(map(str, absolute))
    store = _STORES.get(key)
    if store is None:
        store = _STORES[key] = Store(absolute[0], layers=absolute[1:])
    _STORES[fast_key] = store
    return store


class Cached(Backend):
    """Inline execution + caching."""


class _NotYetExecutable(Backend):
    """A backend whose configs validate but whose execution arrives in a later release."""

    def _execute(self, work: tp.Sequence[Work]) -> None:
        if not work:
            return
        raise NotImplementedError(
            f"backend {type(self).__name__!r} cannot compute yet: this version of exca "
            "executes work only inline; results already cached can be read through it. "
            "Use infra={'backend': 'Cached', ...} to compute (pool and submitit execution "
            "is coming in a next release)"
        )


class _PoolBackend(_NotYetExecutable):
    """Base of the ``concurrent.futures`` pool backends."""

    max_jobs: int | None = pydantic.Field(128, gt=0)


class ThreadPool(_PoolBackend):
    """Thread pool execution + caching."""


class ProcessPool(_PoolBackend):
    """Process pool execution + caching."""


class _SubmititBackend(_NotYetExecutable):
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


class LocalProcess(_SubmititBackend):
    """Subprocess execution + caching."""


class SubmititDebug(_SubmititBackend):
    """Debug executor (inline but simulates submitit)."""


class Slurm(_SubmititBackend):
    """Slurm cluster execution + caching. Fails on non-slurm machines."""

    constraint: str | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    additional_parameters: dict[str, int | str | float | bool] | None = None
    use_srun: bool = False


class Auto(Slurm):
    """Auto-detect executor (local or Slurm). Slurm fields only apply on slurm."""
