"""``Cell``: the cached results of one step at one pipeline position, through the store.

The module of ``exca.steps`` that talks to ``exca.store``; it knows keys, values and
statuses, and leaves the names inside a step folder to :mod:`exca.store.step_folders`
(its entries, and the readable record of the configs that computed them).
"""

from __future__ import annotations

import contextlib
import logging
import operator
import os
import typing as tp
import warnings
from pathlib import Path

from . import cache_types
from ._batch import Failure
from ._config_record import CellConfigs
from .lookup import StepPaths

if tp.TYPE_CHECKING:
    from exca.store import CacheDict, Entry, Store
    from exca.store.claims import ClaimTable
    from exca.store.codecs.base import ObjectReader
    from exca.store.entry_map import EntryMap

    from .backends import Backend

logger = logging.getLogger(__name__)

_FLUSH_SECONDS = 1.0
_status = operator.attrgetter("status")
_FEW_KEYS = 8


_CLAIMS: dict[tuple[int, str], ClaimTable] = {}


def _claims(namespace: tp.Any) -> ClaimTable:
    """One claim table per namespace folder in a process (it remembers the records read;
    a forked child makes its own: its lock may have been held by a thread at the fork)."""
    key = (os.getpid(), str(namespace.folder))
    table = _CLAIMS.get(key)
    if table is None:
        from exca.store.claims import ClaimTable

        table = _CLAIMS[key] = ClaimTable(key[1], read_only=namespace.store.read_only)
    return table


_PATHS: dict[tuple[str, str], StepPaths] = {}


def _paths(folder: Path, relpath: str) -> StepPaths:
    """The (immutable) paths of a cell, built once per folder and cell in a process."""
    key = (str(folder), relpath)
    paths = _PATHS.get(key)
    if paths is None:
        from exca.store.step_folders import CACHE_NAMESPACE

        step_folder = folder / relpath
        paths = _PATHS[key] = StepPaths(step_folder, step_folder / CACHE_NAMESPACE)
    return paths


_ENTRY_MAP: type[EntryMap] | None = None  # exca.store.entry_map.EntryMap, once imported


def new_entry_map() -> EntryMap:
    """An empty ``EntryMap`` (its module is imported with the first cell, not with steps)."""
    global _ENTRY_MAP
    if _ENTRY_MAP is None:
        from exca.store.entry_map import EntryMap

        _ENTRY_MAP = EntryMap
    return _ENTRY_MAP()


_STEP_ADVICE = (
    "point the step's infra.folder to a folder you can write (this one can still be "
    "read: copy what you need, or ask its owner to compute the missing items), or use "
    "infra.mode='read-only' to read cached results only"
)


@contextlib.contextmanager
def step_advice() -> tp.Iterator[None]:
    """Give a store's read-only error the advice that applies to a step."""
    from exca.store import ReadOnlyStoreError

    try:
        yield
    except ReadOnlyStoreError as error:
        if str(error).endswith(_STEP_ADVICE):
            raise  # (advised already, by a nested write)
        raise ReadOnlyStoreError(
            error.folder, error.attempted, error.reason, advice=_STEP_ADVICE
        ) from error


class Cell:
    """Entries of one cell: ``backend.folder / relpath``, with the backend's RAM cache."""

    def __init__(
        self,
        backend: Backend,
        relpath: str,
        cache_type: cache_types.CacheType | None = None,
        configs: list[dict[str, tp.Any]] | None = None,
        classes: list[str] | None = None,
        configs_text: str | None = None,
    ) -> None:
        assert backend.folder is not None
        self.backend = backend
        self.relpath = relpath
        self.cache_type = cache_type or cache_types.resolve(None)
        self.paths = _paths(backend.folder, relpath)
        self.cache_folder = self.paths.cache_folder
        from exca.store import step_folders

        self._ns = step_folders.shared_namespace(
            backend._open_store(), step_folders.cache_relpath(relpath)
        )
        self.configs = CellConfigs(relpath, configs, classes, configs_text)
        self.attempted: set[str] = set()  # keys recomputed by force/retry: once per instance
        # entries this instance has read or written: a step instance trusts what it has
        # seen (as exca 0.6.0 did); new instances and lookups read the store afresh
        self.known = new_entry_map()
        self._warned_corrupt = False

    @classmethod
    def at(cls, backend: Backend, step_folder: Path) -> Cell:
        """The cell of an existing step folder under ``backend.folder``."""
        assert backend.folder is not None
        return cls(backend, str(Path(step_folder).relative_to(backend.folder)))

    @property
    def store(self) -> Store:
        return self._ns.store

    @property
    def claims(self) -> ClaimTable:
        """Who computes which items of this cell now (advisory records of the store)."""
        return _claims(self._ns)

    def cache_dict(self) -> CacheDict:
        from exca.store import CacheDict

        backend = self.backend
        return CacheDict(
            self.cache_folder, keep_in_ram=backend.keep_in_ram, root=backend.folder,
            verify_reads=backend.verify_reads, layers=backend.read_folders,
        )  # fmt: skip

    # ---- reading -----------------------------------------------------------------------

    def entry(self, key: str, damaged_raises: bool = False) -> Entry | None:
        """The entry of ``key`` as stored now; None also for a damaged record (with a
        warning), unless ``damaged_raises`` (then ``CorruptArtifactError``)."""
        from exca.store import CorruptArtifactError

        try:
            entry = self._ns.entry(key)
        except CorruptArtifactError as error:
            if damaged_raises:
                raise
            self.warn_damaged({key: f"{error.path}: {error.detail}"})
            entry = None
        if entry is None:
            self.known.discard(key)
        else:
            self.known[key] = entry
        return entry

    def peek(self, key: str) -> Entry | None:
        """The entry of ``key`` as stored now (noted in :attr:`known`), None if absent
        or damaged: quietly, for a caller that then takes the full path, which reads the
        record again and reports the damage once."""
        from exca.store import CorruptArtifactError

        try:
            entry = self._ns.entry(key)
        except CorruptArtifactError:
            return None
        if entry is not None:
            self.known[key] = entry
        return entry

    def stored(self, keys: tp.Sequence[str]) -> EntryMap:
        """Entries of the ``keys`` present in the store now (this instance's memory aside);
        a damaged record counts as absent (listed in the map's ``damaged``)."""
        if len(keys) <= _FEW_KEYS:
            fresh = new_entry_map()
            self._read_directly(keys, fresh)
            return fresh
        fresh = self._ns.find(keys)
        self.known.update(fresh)
        return fresh

    def entries(self, keys: tp.Sequence[str]) -> EntryMap:
        """Entries of the ``keys`` present, those seen before by this instance from memory
        (a new map, the caller's to keep; records are decoded when read)."""
        known = self.known
        found = known.select(keys)
        missing = [key for key in keys if key not in found] if found else keys
        if len(missing) <= _FEW_KEYS:
            self._read_directly(missing, found)
            return found
        fresh = self._ns.find(missing)
        known.update(fresh)
        if not found:
            return fresh
        found.update(fresh)
        return found

    def _read_directly(self, keys: tp.Sequence[str], found: EntryMap) -> None:
        """Add the entries of ``keys`` stored now to ``found`` and to :attr:`known`, one
        file read each (a bulk read lists the whole folder: for a few keys it costs more);
        a damaged record is a miss, listed in ``found.damaged``."""
        from exca.store import CorruptArtifactError

        known = self.known
        for key in keys:
            try:
                entry = self._ns.entry(key)
            except CorruptArtifactError as error:
                found.damaged[key] = f"{error.path}: {error.detail}"
                continue
            if entry is not None:
                found[key] = known[key] = entry

    def read(self, entry: Entry, reader: ObjectReader | None = None) -> tp.Any:
        """The value of a success entry, or a :class:`Failure` for an error entry;
        ``reader``: one of :meth:`reader`, for a value of a block read together.

        Raises ``CorruptArtifactError`` for a damaged value (callers recompute it).
        """
        if entry.status == "error":
            error = self._ns.load_error(entry)
            error.add_note(
                f"reraised from cache {self.cache_folder}[{entry.key!r}]; "
                "use infra.mode='retry' to recompute"
            )
            if entry.error_text and entry.pid != os.getpid():  # raised in another process
                error.add_note(
                    f"traceback where it was raised (pid {entry.pid}):\n"
                    + entry.error_text.rstrip()
                )
            return Failure(error, origin=self.relpath, fresh=False)
        ram = self.backend._ram_cache() if self.backend.keep_in_ram else None
        if ram is not None and (self.relpath, entry.key) in ram:
            return ram[self.relpath, entry.key]
        in_ram = self.backend.keep_in_ram or self.cache_type.keep_in_ram
        value = self._ns.load(entry, keep_in_ram=in_ram, reader=reader)
        if ram is not None:
            ram[self.relpath, entry.key] = value
        return value

    def reader(self) -> ObjectReader:
        """What :meth:`read` reads objects through, as the store is now: for one block of
        values read together (see ``Namespace.reader``)."""
        return self._ns.reader(self.backend.keep_in_ram or self.cache_type.keep_in_ram)

    def read_kept(self, entries: list[Entry], reader: ObjectReader) -> list[tp.Any] | None:
        """:meth:`read` of each success entry, when the store serves all of them from
        memory it keeps (maps of small arrays read before); None otherwise."""
        if self.backend.keep_in_ram or "error" in set(map(_status, entries)):
            return None
        return self._ns.load_kept(entries, reader)

    def read_inline(self, found: EntryMap, keys: tp.Sequence[str]) -> list[tp.Any] | None:
        """:meth:`read_many` of ``keys`` found inline in ``found``, None if any is not a
        small success value (or the backend keeps values in RAM): read those otherwise."""
        if self.backend.keep_in_ram:
            return None
        return self._ns.load_inline(found, keys)

    def read_many(self, entries: list[Entry]) -> list[tp.Any]:
        """:meth:`read` of each entry, decoded together (for a few entries at a time).

        Raises ``CorruptArtifactError`` if any value is damaged.
        """
        if self.backend.keep_in_ram or "error" in set(map(_status, entries)):
            return [self.read(entry) for entry in entries]
        return self._ns.load_many(entries, keep_in_ram=self.cache_type.keep_in_ram)

    def warn_damaged(self, damaged: tp.Mapping[str, str]) -> None:
        """Log one warning for the records of a read that could not be trusted (misses)."""
        key, reason = next(iter(damaged.items()))
        logger.warning(
            "%d cached record(s) of %s cannot be trusted and count as missing (first: %r: "
            "%s); run exca.store.Store(%r).verify(fix=True) to quarantine the damaged files",
            len(damaged), self.cache_folder, key, reason, str(self.store.folder),
        )  # fmt: skip

    def warn_corrupt(self, key: str, error: BaseException) -> None:
        """Log once per cell that a damaged value is being recomputed."""
        if not self._warned_corrupt:
            self._warned_corrupt = True
            logger.warning(
                "recomputing damaged cached value %s[%r]: %s", self.cache_folder, key, error
            )

    # ---- writing -----------------------------------------------------------------------

    @contextlib.contextmanager
    def batch(self) -> tp.Iterator[None]:
        """Publish the entries written meanwhile together (one pack: fast bulk reads).

        Published at least every ``_FLUSH_SECONDS`` or so, even while a later item computes
        (by a thread of the store), so a crash loses little finished work.
        """
        with step_advice(), self._ns.batch(flush_every=_FLUSH_SECONDS):
            yield

    def put(self, key: str, value: tp.Any, duration: float | None = None) -> None:
        """Store ``value`` (the store re-checks an existing payload before reusing it)."""
        with step_advice():
            self.configs.record(self.store)
            codec = self.cache_type.codec_for(value)
            self.backend._ram_cache().pop((self.relpath, key), None)
            self.known[key] = self._ns.put(key, value, codec=codec, duration=duration)

    def put_error(self, key: str, error: BaseException, duration: float | None = None) -> None:
        with step_advice():
            self.configs.record(self.store)
            error.add_note(f"error cached in {self.cache_folder}[{key!r}]")
            self.backend._ram_cache().pop((self.relpath, key), None)
            self.known[key] = self._ns.put_error(key, error, duration=duration)

    def delete(self, key: str) -> None:
        """Delete ``key`` from ``folder``; an entry in a read folder stays there, hidden."""
        root = self._ns.entry_root(key)
        if root is not None and root != self.store.folder:
            warnings.warn(
                f"the cached result {key!r} is in read folder {root / self.relpath}, which "
                f"is never written: it stays there, hidden from {self.cache_folder}; the "
                "next run computes it into that folder",
                stacklevel=4,
            )
        self.backend._ram_cache().pop((self.relpath, key), None)
        self.known.discard(key)
        with step_advice():
            self._ns.delete(key)

    def paths_of(self, key: str) -> StepPaths:
        """The paths of the folder holding the entry of ``key``: a read folder's when
        found there, else ``folder``'s."""
        root = self._ns.entry_root(key)
        if root is None or root == self.store.folder:
            return self.paths
        layers = (layer.folder for layer in self.store.layers)
        given = dict(zip(layers, self.backend.read_folders, strict=True))
        return _paths(given.get(root, root), self.relpath)  # as the user gave it, as folder is
