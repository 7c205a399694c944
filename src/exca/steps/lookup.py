"""``LookupHandle``: inspect, read or clear the cached result of one (step, input) pair."""

from __future__ import annotations

import dataclasses
import typing as tp
from pathlib import Path

if tp.TYPE_CHECKING:
    from exca.store import CacheDict

    from ._cells import Cell
    from .backends import Backend

__all__ = ["LookupHandle", "StepPaths"]

Status = tp.Literal["success", "error", "running", None]


@dataclasses.dataclass(frozen=True, slots=True)
class StepPaths:
    """Folders of a step's cell: ``step_folder`` (config, logs) and ``cache_folder`` (entries)."""

    step_folder: Path
    cache_folder: Path


class LookupHandle:
    """Cache handle for a (step, value) pair.

    Returned by :meth:`Step.lookup`. Provides read-only access to the cache entry and
    its on-disk paths. Without infra it is a null handle: ``status`` is None,
    ``cached()`` is False and ``paths``, ``cache_dict`` and ``result()`` raise.
    """

    def __init__(
        self,
        paths: StepPaths | None = None,
        cache_dict: CacheDict | None = None,
        backend: Backend | None = None,
        uid: str = "",
    ) -> None:
        self._paths = paths
        self._cache_dict = cache_dict
        self._backend = backend
        self.uid = uid
        self._cell: Cell | None = None
        self._subs: tuple[LookupHandle, ...] = ()

    def __repr__(self) -> str:
        where = "no infra" if self._paths is None else str(self._paths.cache_folder)
        return f"LookupHandle({where}, uid={self.uid!r})"

    def _find_cell(self) -> Cell | None:
        if self._cell is None and self._paths is not None and self._backend is not None:
            if self._backend.folder is not None:  # a handle built by hand from paths
                from ._cells import Cell

                self._cell = Cell.at(self._backend, self._paths.step_folder)
        return self._cell

    def _require_cell(self) -> Cell:
        if self._find_cell() is None:
            raise RuntimeError(
                "this step has no cache: set infra={'backend': 'Cached', 'folder': ...} on it "
                "(or on an enclosing step) to cache and look up its results"
            )
        assert self._cell is not None
        return self._cell

    @property
    def paths(self) -> StepPaths:
        """On-disk path layout (:class:`StepPaths`) for this entry: where it was found (a
        read folder's for an entry there), else where it would be written."""
        cell = self._require_cell()
        assert self._paths is not None
        return (
            cell.paths_of(self.uid) if self._backend and self._backend.read_folders else self._paths
        )

    @property
    def cache_dict(self) -> CacheDict:
        """:class:`~exca.store.CacheDict` for this entry."""
        cell = self._require_cell()
        if self._cache_dict is None:
            self._cache_dict = cell.cache_dict()
        return self._cache_dict

    @property
    def status(self) -> Status:
        """Entry status: ``"success"``, ``"error"``, ``"running"``, or ``None``."""
        cell = self._find_cell()
        if cell is None:
            return None
        entry = cell.entry(self.uid)
        if entry is not None:
            return entry.status  # type: ignore[return-value]
        from ._liveness import running

        return "running" if running(cell.claims, self.uid) else None

    def cached(self) -> bool:
        """True iff there is a cached success or error."""
        return self.status in ("success", "error")

    def result(self) -> tp.Any:
        """Return the cached value, or re-raise a cached error."""
        cell = self._require_cell()
        entry = cell.entry(self.uid, damaged_raises=True)  # a damaged record: an error
        if entry is None:
            raise LookupError(
                f"nothing cached for item {self.uid!r} in {cell.cache_folder}; run the step first"
            )
        from ._batch import Failure

        outcome = cell.read(entry)
        if isinstance(outcome, Failure):
            raise outcome.error
        return outcome

    def clear_cache(self, recursive: bool = True) -> None:
        """Delete the cached result and associated files.

        Parameters
        ----------
        recursive:
            Also clear sub-step caches (e.g. inside a :class:`~exca.steps.Chain`).
        """
        if recursive:
            for sub in self._subs:
                sub.clear_cache(recursive=True)
        cell = self._find_cell()
        if cell is not None:
            from ._liveness import cancel_owners

            cancel_owners(cell.claims, [self.uid])  # (a worker job exca submitted stops)
            cell.delete(self.uid)

    def job(self) -> tp.Any:
        """Return the live inflight job, or latest submitit job recorded for logs.

        Always None for inline and pool backends (and for ``SubmititDebug``, whose jobs
        cannot be found again once their driver is gone). Works from any process: which
        job computed which item is recorded in the step folder.
        """
        cell = self._find_cell()
        if cell is None:
            return None
        from .backends.submitit import _SubmititBackend, job_of

        backend = cell.backend
        if not isinstance(backend, _SubmititBackend):
            return None
        return job_of(backend, cell.relpath, self.uid)
