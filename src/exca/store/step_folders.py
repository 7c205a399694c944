"""Step folders: the file names inside a step's folder, and one store per root per process.

A step folder (``root/<cell path>``) holds the cell's entries (:data:`CACHE_NAMESPACE`), a
readable record of the configs that computed them (:data:`CONFIG_FILE`), the submitit
folder of its jobs (:data:`LOGS_DIR`) and which job computed which item
(:data:`JOBS_NAMESPACE`). The cell path itself is built here from readable segments,
within a length budget every OS accepts. ``exca.steps`` names none of these files.

The per-process registries (:func:`shared_store`, :func:`shared_namespace`) are emptied in
a forked child: a child must not publish through its parent's write buffers.
"""

from __future__ import annotations

import os
import re
import typing as tp
from pathlib import Path

from .keys import key_of

if tp.TYPE_CHECKING:
    from .namespace import Namespace
    from .objects import VerifyReads
    from .store import Store

__all__ = [
    "CACHE_NAMESPACE",
    "CONFIG_FILE",
    "LOGS_DIR",
    "JOBS_NAMESPACE",
    "MAX_LABEL_LENGTH",
    "MAX_CELL_PATH_LENGTH",
    "cell_path",
    "segment",
    "cache_relpath",
    "config_relpath",
    "jobs_relpath",
    "logs_folder",
    "shared_store",
    "shared_namespace",
]

CACHE_NAMESPACE = "cache"  # the cell's entries
CONFIG_FILE = "config.json"  # full configs, defaults included: for humans and changed defaults
LOGS_DIR = "logs"  # submitit's folder: one sub-folder per job (pickles, stdout, stderr)
JOBS_NAMESPACE = "jobs"  # item key -> the job that computed it (cluster, job id, folder)
MAX_LABEL_LENGTH = 96  # characters of one readable segment, before its hash
MAX_CELL_PATH_LENGTH = 350  # whole relative path of a cell, under PATH_MAX of every OS
_HASH_LENGTH = 8
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+=,{}()@%~\-]")


def cache_relpath(cell: str) -> str:
    return f"{cell}/{CACHE_NAMESPACE}"


def config_relpath(cell: str) -> str:
    return f"{cell}/{CONFIG_FILE}"


def jobs_relpath(cell: str) -> str:
    return f"{cell}/{JOBS_NAMESPACE}"


def logs_folder(root: Path, cell: str) -> Path:
    """submitit's folder for the jobs of a cell (``%j``: one sub-folder per job id)."""
    return root / cell / LOGS_DIR / "%j"


# ---- cell paths ---------------------------------------------------------------------


def segment(config: dict[str, tp.Any]) -> str:
    """Folder name of one step's uid config: readable label, then a hash of the config."""
    label = ",".join(f"{name}={_render(value)}" for name, value in config.items())
    label = _UNSAFE.sub("-", label)
    if len(label) > MAX_LABEL_LENGTH:
        label = label[: MAX_LABEL_LENGTH - 3] + "..."
    return f"{label}-{key_of(config)[:_HASH_LENGTH]}"


def cell_path(configs: tp.Sequence[dict[str, tp.Any]]) -> str:
    """Relative folder of the cell of these step uid configs (pipeline order)."""
    if not configs:
        raise ValueError("a cell needs at least one step")
    segments = [segment(config) for config in configs]
    path = "/".join(segments)
    if len(path) <= MAX_CELL_PATH_LENGTH:
        return path
    # keep the leading steps readable, fold the rest into one hashed segment
    budget = MAX_CELL_PATH_LENGTH - MAX_LABEL_LENGTH - _HASH_LENGTH - 8
    head: list[str] = []
    while len("/".join(head + segments[len(head) : len(head) + 1])) <= budget:
        head.append(segments[len(head)])
    tail = segments[len(head) :]
    names = "+".join(str(next(iter(c.values()))) for c in configs[len(head) :])
    label = _UNSAFE.sub("-", f"{names}-{len(tail)}")[:MAX_LABEL_LENGTH]
    return "/".join(head + [f"{label}-{key_of(tail)[:_HASH_LENGTH]}"])


def _render(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}={_render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "(" + ",".join(_render(v) for v in value) + ")"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ---- per-process registries ---------------------------------------------------------

_STORES: dict[tp.Any, Store] = {}  # by absolute path, and by the folder as given
_NAMESPACES: dict[tuple[int, str], tuple[Store, Namespace]] = {}


def shared_store(
    folder: str | os.PathLike[str],
    read_folders: tp.Sequence[str | os.PathLike[str]] = (),
    verify_reads: VerifyReads | None = None,
) -> Store:
    """One ``Store`` per folder, read folders (its layers) and read check in a process:
    opening one checks its format marker, and those of its read folders."""
    # a relative folder is the store under the working directory of the moment; without
    # read folders (the usual case, paid by every new step instance) the key is the name
    if read_folders:
        names = (os.fspath(folder), *(os.fspath(each) for each in read_folders))
        fast_key: tp.Any = names if all(map(os.path.isabs, names)) else (names, os.getcwd())
    else:
        name = os.fspath(folder)
        fast_key = name if os.path.isabs(name) else (name, os.getcwd())
    if verify_reads is not None:
        fast_key = (fast_key, verify_reads)
    store = _STORES.get(fast_key)
    if store is not None:
        return store
    folders = [os.fspath(each) for each in read_folders]
    return _open_shared(os.fspath(folder), folders, verify_reads, fast_key)


def _open_shared(
    folder: str, read_folders: list[str], verify_reads: VerifyReads | None, fast_key: tp.Any
) -> Store:
    from .store import Store

    absolute = [str(Path(name).expanduser().absolute()) for name in (folder, *read_folders)]
    key = (tuple(absolute) if read_folders else absolute[0], verify_reads)
    store = _STORES.get(key)
    if store is None:
        store = _STORES[key] = Store(absolute[0], layers=absolute[1:], verify_reads=verify_reads)
    _STORES[fast_key] = store
    return store


def shared_namespace(store: Store, relpath: str) -> Namespace:
    """One namespace object per store and folder in a process (opening one costs)."""
    key = (id(store), relpath)
    known = _NAMESPACES.get(key)
    if known is None:  # the entry keeps the store alive, so its id is never reused
        known = _NAMESPACES[key] = (store, store.namespace(relpath))
    return known[1]


def _forget_in_child() -> None:
    # a namespace's thread-local write buffer may hold the parent's unpublished entries
    _STORES.clear()
    _NAMESPACES.clear()


os.register_at_fork(after_in_child=_forget_in_child)
