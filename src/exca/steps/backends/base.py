"""The ``Backend`` base: where a step caches (``folder``, ``mode``, ``keep_in_ram``) and the one
hook a backend overrides, :meth:`Backend._execute` (how units of work run).

Modes, caching, planning and coordination are done once, above the backends: the driver
hands ``_execute`` picklable :class:`~exca.steps._work.WorkUnit` values and gets one
:class:`Outcome` per unit back; results travel through the store only.
"""

from __future__ import annotations

import typing as tp
import warnings
from pathlib import Path

import pydantic

from .._discriminated import DiscriminatedModel, unknown_name_message
from ..identity import ModeType

if tp.TYPE_CHECKING:
    from exca.store import Store
    from exca.store.owner import Owner

    from .._work import UnitResult, WorkUnit

__all__ = ["Backend", "Outcome", "TrackedOutcome", "Done", "log_info"]


class Outcome(tp.Protocol):
    """How a unit of work ended: ``result()`` waits for it, and raises if the unit did not
    complete (a crashed worker, a job that died) with what is known of why."""

    def result(self) -> UnitResult | None: ...


@tp.runtime_checkable
class TrackedOutcome(Outcome, tp.Protocol):
    """An outcome that also tells, without waiting, whether its unit has ended
    (``done()``: its claim is then released within a heartbeat, whether or not its items
    are read), and which job runs it when that job outlives the driver (``job_owner()``:
    its claim is handed over to that job at submission, so that a driver that exits
    leaves the items claimed while the job is queued or runs). An outcome with
    ``result()`` only has its claim released when its items are read."""

    def done(self) -> bool: ...

    def job_owner(self) -> Owner | None: ...


class Done:
    """The outcome of a unit that has run already (inline)."""

    __slots__ = ("_result",)

    def __init__(self, result: UnitResult | None) -> None:
        self._result = result

    def result(self) -> UnitResult | None:
        return self._result

    def done(self) -> bool:
        return True

    def job_owner(self) -> Owner | None:
        return None


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
    verify_reads:
        How memory-mapped arrays are checked when read: ``"header"`` (size and header,
        microseconds) or ``"full"`` (re-hashed against their digest); ``None`` (default)
        follows ``EXCA_VERIFY_READS``, else ``"header"``. Values loaded into RAM are
        always checked in full. Never changes identity.
    read_folders:
        Store folders searched for results after ``folder`` and never written (a
        team's cache): hits there are served as they are, misses computed into
        ``folder``. Not part of a result's identity; inherited with ``folder``.
    """

    folder: Path | None = None
    read_folders: list[Path] = []
    mode: ModeType = "cached"
    keep_in_ram: bool = False
    verify_reads: tp.Literal["header", "full"] | None = None
    _frozen: bool = pydantic.PrivateAttr(default=False)
    _ram: dict[tuple[str, str], tp.Any] = pydantic.PrivateAttr(default_factory=dict)
    _store: Store | None = pydantic.PrivateAttr(default=None)  # set: this store, not folder's
    # defined when first named (a config, ``derive``, ``exca.steps.backends.X``): their
    # classes cost the import of exca.steps more than most users of it need
    _on_demand: tp.ClassVar[dict[str, str]] = {
        **dict.fromkeys(("ThreadPool", "ProcessPool"), "exca.steps.backends.pools"),
        **dict.fromkeys(
            ("LocalProcess", "SubmititDebug", "Slurm", "Auto"), "exca.steps.backends.submitit"
        ),
    }

    @pydantic.field_validator("mode", mode="before")
    @classmethod
    def _force_forward_is_force(cls, mode: tp.Any) -> tp.Any:
        if mode == "force-forward":  # exca 0.6.0's name, from when force did not propagate
            warnings.warn(
                'infra mode "force-forward" is deprecated: use "force" (which forces the '
                "steps downstream too)",
                DeprecationWarning,
                stacklevel=2,
            )
            return "force"
        return mode

    def derive(self, backend: str | None = None, **fields: tp.Any) -> Backend:
        """A new backend of type ``backend`` (default: this one's) with the fields both
        types have, taken from this one, then ``fields`` (validated, never dropped).

        >>> from exca.steps.backends import Cached
        >>> Cached(folder="cache", keep_in_ram=True).derive("ThreadPool", max_jobs=2)
        ThreadPool(folder=PosixPath('cache'), mode='cached', keep_in_ram=True, max_jobs=2)
        """
        name = type(self).__name__ if backend is None else backend
        target = Backend._subclasses_by_name(name).get(name)
        if target is None or target._root or name.startswith("_"):
            raise ValueError(unknown_name_message(Backend, name, Backend._subclasses_by_name()))
        shared = {f: getattr(self, f) for f in type(self).model_fields if f in target.model_fields}
        return tp.cast(Backend, target(**{**shared, **fields}))

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
        private.update(_frozen=False, _ram={}, _store=None)  # fresh runtime state when unpickled
        return {**state, "__pydantic_private__": private}

    def model_copy(
        self, *, update: tp.Mapping[str, tp.Any] | None = None, deep: bool = False
    ) -> tp.Self:
        copied = super().model_copy(update=update, deep=deep)
        copied._frozen, copied._ram = False, {}  # (a store set by hand is kept)
        return copied

    def _ram_cache(self) -> dict[tuple[str, str], tp.Any]:
        """``_ram`` (values kept in RAM, by cell and key), without pydantic's slow
        fallback for private attributes (read on every write)."""
        private = self.__pydantic_private__
        assert private is not None
        return tp.cast("dict[tuple[str, str], tp.Any]", private["_ram"])

    def _open_store(self) -> Store:
        """The artifact store rooted at ``folder`` (one per folder and process)."""
        private = self.__pydantic_private__  # (not self._store: pydantic's slow fallback)
        assert private is not None
        if private["_store"] is not None:
            return private["_store"]
        if self.folder is None:
            raise RuntimeError(f"{type(self).__name__} has no folder to store results in")
        from exca.store.step_folders import shared_store

        return shared_store(self.folder, self.read_folders, self.verify_reads)

    def _unit_limits(self, items: int) -> tuple[int, int]:
        """How the driver splits ``items`` keys into units: (at most so many units, of at
        least so many items). One unit by default."""
        return 1, max(items, 1)

    def _execute(self, units: tp.Sequence[WorkUnit]) -> tp.Sequence[Outcome | None]:
        """Start every unit of ``units`` and return one outcome per unit, in order.

        The one override point of a backend. Each unit is a picklable value that computes
        its items and writes them to the store when called (``unit()``, in any process
        that can reach the store). An outcome may still be running when returned: the
        driver waits for it before reading the unit's items. The default runs each unit
        inline, in order; ``None`` is accepted as the outcome of a unit that has run.
        """
        return [Done(unit()) for unit in units]


def log_info(message: str, *args: tp.Any) -> None:
    """Log on the ``exca`` logger what was sent where (jobs, ids, log folders)."""
    import logging  # (imported when work is sent, not with exca.steps)

    logging.getLogger("exca.steps.backends").info(message, *args)
