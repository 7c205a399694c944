"""What a store folder holds: counts and sizes per step folder, read without writing.

The facts behind ``exca store info``, ``ls`` and ``du``; the command only formats them.
A *step folder* is a folder of the store holding entries: a step's folder (its entries
live in its ``cache`` sub-folder, beside its ``config.json``: see :mod:`.step_folders`)
or a ``CacheDict`` folder.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .entries import Entry
from .entry_table import EntryTable
from .errors import FormatVersionError, NotAStoreFolderError
from .layout import FORMAT_FILE, LOOSE_DIR, PACKS_DIR, object_path_to_digest
from .scan import iter_namespace_folders, path_size
from .step_folders import CACHE_NAMESPACE, CONFIG_FILE, JOBS_NAMESPACE
from .store import Store

__all__ = [
    "StoreInfo",
    "StepFolderInfo",
    "EntryInfo",
    "FolderUsage",
    "open_existing_store",
    "store_info",
    "list_step_folders",
    "list_entries",
    "disk_usage",
]

Progress = Callable[[int], None]  # called with the number of things walked so far


@dataclass(frozen=True, slots=True)
class StoreInfo:
    format_version: str
    step_folders: int
    entries: int
    objects: int
    bytes: int
    dedup_ratio: float  # bytes the entries refer to / bytes of the objects stored


@dataclass(frozen=True, slots=True)
class StepFolderInfo:
    step_folder: str  # relative to the store root
    config: object  # the step's recorded config (None for a CacheDict folder)
    entries: int
    errors: int
    bytes: int  # of the values its entries hold (objects counted for each entry)


@dataclass(frozen=True, slots=True)
class EntryInfo:
    key: str
    status: str
    codec: str
    bytes: int
    age_s: float


@dataclass(frozen=True, slots=True)
class FolderUsage:
    step_folder: str
    bytes: int  # its entry records and the objects only it refers to
    shared_bytes: int  # objects it refers to that other step folders refer to too


def open_existing_store(folder: str | os.PathLike[str]) -> Store:
    """The store at ``folder``, refusing a missing folder or one that is not a store."""
    path = Path(folder).expanduser().absolute()
    if not path.exists():
        raise FileNotFoundError(f"no such folder: {path}")
    if not (path / FORMAT_FILE).is_file():
        raise NotAStoreFolderError(
            f"{path} is not an exca store (it has no {FORMAT_FILE}); pass the root folder "
            "of a store (the infra.folder of a step, or a CacheDict's folder)"
        )
    return Store(path, read_only=True)


def _step_folder(namespace: Path) -> Path:
    return namespace.parent if namespace.name in (CACHE_NAMESPACE, JOBS_NAMESPACE) else namespace


def _namespaces(
    store: Store, progress: Progress | None, results_only: bool = True
) -> Iterator[tuple[str, Path]]:
    """(step folder relative to the root, entry folder) of each folder of entries;
    with ``results_only``, a step's job records (which job computed what) left out."""
    for count, namespace in enumerate(iter_namespace_folders(store.folder), start=1):
        if progress is not None:
            progress(count)
        if results_only and namespace.name == JOBS_NAMESPACE:
            continue
        yield str(_step_folder(namespace).relative_to(store.folder)), namespace


def _live_entries(namespace: Path) -> Iterator[Entry]:
    return (e for e in EntryTable(namespace).iter_entries() if e.status != "deleted")


def store_info(store: Store, progress: Progress | None = None) -> StoreInfo:
    """Counts and sizes of the whole store (its layers left out)."""
    folders = entries = referenced = 0
    for _, namespace in _namespaces(store, progress):
        folders += 1
        for entry in _live_entries(namespace):
            entries += 1
            referenced += sum(ref.size for ref in entry.objects)
    stored = [path_size(path) for path in store.objects.iter_paths() if _is_object(path)]
    return StoreInfo(
        format_version=_format_version(store.folder),
        step_folders=folders,
        entries=entries,
        objects=len(stored),
        bytes=path_size(store.folder),
        dedup_ratio=referenced / sum(stored) if sum(stored) else 1.0,
    )


def list_step_folders(store: Store, progress: Progress | None = None) -> list[StepFolderInfo]:
    found = []
    for relpath, namespace in _namespaces(store, progress):
        statuses: Counter[str] = Counter()
        size = 0
        for entry in _live_entries(namespace):
            statuses[entry.status] += 1
            size += entry.size
        config = _recorded_config(store.folder / relpath)
        found.append(StepFolderInfo(relpath, config, statuses["success"], statuses["error"], size))
    return found


def list_entries(store: Store, step_folder: str) -> list[EntryInfo]:
    """The entries of one step folder (as :func:`list_step_folders` names it), by key."""
    namespace = _find_namespace(store, step_folder)
    now = time.time()
    return sorted(
        (
            EntryInfo(e.key, e.status, e.codec, e.size, max(0.0, now - e.created))
            for e in _live_entries(namespace)
        ),
        key=lambda info: info.key,
    )


def disk_usage(store: Store, progress: Progress | None = None) -> tuple[list[FolderUsage], int]:
    """Bytes per step folder, and the total (every object counted once)."""
    records: dict[str, int] = {}
    users: dict[str, set[str]] = {}  # object digest -> step folders referring to it
    sizes: dict[str, int] = {}
    for relpath, namespace in _namespaces(store, progress, results_only=False):
        records[relpath] = records.get(relpath, 0) + _records_size(namespace)
        for entry in _live_entries(namespace):
            for ref in entry.objects:
                users.setdefault(ref.digest, set()).add(relpath)
                sizes[ref.digest] = ref.size
    own = Counter[str]()
    shared = Counter[str]()
    for digest, folders in users.items():
        for relpath in folders:
            (own if len(folders) == 1 else shared)[relpath] += sizes[digest]
    usage = [FolderUsage(r, records[r] + own[r], shared[r]) for r in sorted(records)]
    shared_once = sum(sizes[d] for d, folders in users.items() if len(folders) > 1)
    return usage, sum(u.bytes for u in usage) + shared_once


def _find_namespace(store: Store, step_folder: str) -> Path:
    given = Path(step_folder)
    folder = given if given.is_absolute() else store.folder / given
    for candidate in (folder, folder / CACHE_NAMESPACE):
        if (candidate / LOOSE_DIR).is_dir() or (candidate / PACKS_DIR).is_dir():
            return candidate
    raise NotAStoreFolderError(
        f"{folder} holds no entries of store {store.folder}; "
        f"'exca store ls {store.folder}' lists its step folders"
    )


def _records_size(namespace: Path) -> int:
    return sum(
        path_size(namespace / name)
        for name in (LOOSE_DIR, PACKS_DIR)
        if (namespace / name).is_dir()
    )


def _is_object(path: Path) -> bool:
    return not path.name.startswith(".") and len(object_path_to_digest(path)[0]) == 32


def _recorded_config(step_folder: Path) -> object:
    """The config of the step of a step folder (the last of its recorded steps)."""
    try:
        steps = json.loads((step_folder / CONFIG_FILE).read_text(encoding="utf-8"))["steps"]
        return steps[-1] if isinstance(steps, list) and steps else None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a CacheDict folder, or an unreadable (advisory) record


def _format_version(folder: Path) -> str:
    try:
        return str(json.loads((folder / FORMAT_FILE).read_text())["version"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise FormatVersionError(f"unreadable format marker {folder / FORMAT_FILE}: {err}") from err
