"""``Store``: one store folder, its format marker, objects, layers and entry namespaces."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO, TypeVar, cast

from ._settings import choose
from .errors import (
    FormatVersionError,
    NotAStoreFolderError,
    ReadFolderError,
    ReadOnlyStoreError,
)
from .layout import FORMAT_FILE, log_file
from .publish import publish_bytes, translate_write_errors
from .read_folders import ReadFolderPickle, read_folder_pickle_setting

if TYPE_CHECKING:
    from .gc import GcReport
    from .namespace import Namespace
    from .object_reads import ReadableObjects
    from .objects import ObjectStore, VerifyReads
    from .objects_on_use import ObjectsOnFirstUse
    from .verify import VerifyReport

_Objects = TypeVar("_Objects", bound="ReadableObjects")

__all__ = ["Store", "STORE_FORMAT_MAJOR", "STORE_FORMAT_MINOR"]

STORE_FORMAT_MAJOR = 1
STORE_FORMAT_MINOR = 0
_VERIFY_READS = ("header", "full")


class Store:
    """The content-addressed store rooted at ``folder``.

    Parameters
    ----------
    folder:
        Root folder; created on the first write, never by reading.
    read_only:
        Refuse every write with :class:`ReadOnlyStoreError` (reads work as usual).
    durable:
        fsync files and folders before and after publishing them (slower; survives
        power loss, not only process crashes).
    verify_reads:
        ``"header"`` (default) checks memory-mapped payloads for size and header on
        open; ``"full"`` re-hashes them. Default from ``EXCA_VERIFY_READS``.
    layers:
        Folders of read-only stores read beneath this one (for example a team cache):
        hits come from whichever has the key, writes go to ``folder``. Each must be a
        store (``ReadFolderError`` otherwise: a mistyped path is no silent miss).
    read_folder_pickle:
        ``"refuse"`` serves the pickle-coded entries of ``layers`` as misses (with one
        warning per folder): unpickling a file someone else wrote can run their code.
        Default ``"allow"``, or ``EXCA_READ_FOLDER_PICKLE``.

    Examples
    --------
    >>> store = Store(tmp_folder)
    >>> table = store.namespace("my-table")
    >>> _ = table.put("answer", 42)
    >>> table.load(table.entry("answer"))
    42
    >>> store.verify().ok
    True
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        read_only: bool = False,
        durable: bool = False,
        verify_reads: VerifyReads | None = None,
        layers: Sequence[str | os.PathLike[str]] = (),
        read_folder_pickle: ReadFolderPickle | None = None,
    ) -> None:
        self.folder = Path(folder).expanduser().absolute()
        check_folder_path(self.folder, "store folder")
        self.read_only = read_only
        self.durable = durable
        self.verify_reads = _verify_reads_setting(verify_reads)
        self.read_folder_pickle = read_folder_pickle_setting(read_folder_pickle)
        self.layers = tuple(_open_layer(layer, self.verify_reads) for layer in layers)
        self._format_checked = _check_format(self.folder)

    @functools.cached_property
    def objects(self) -> ObjectStore:
        """The store's objects, to publish and read them (made on first use: reading
        small values held inline in their entries needs none, nor the numpy import that
        objects bring)."""
        from .objects import ObjectStore

        return self._open_objects(ObjectStore)

    @functools.cached_property
    def object_writer(self) -> ObjectsOnFirstUse:
        """Where codecs write the objects of a value: :attr:`objects`, made only when a
        value needs one (a small value held inline in its entry does not)."""
        from .objects_on_use import ObjectsOnFirstUse

        return ObjectsOnFirstUse(self)

    @functools.cached_property
    def readable_objects(self) -> ReadableObjects:
        """The store's objects, to read them only: without the modules that publish
        objects (a process that only reads arrays never imports them)."""
        from .object_reads import ReadableObjects

        return self._open_objects(ReadableObjects)

    def _open_objects(self, kind: type[_Objects]) -> _Objects:
        return kind(
            self.folder,
            durable=self.durable,
            verify_reads=self.verify_reads,
            read_only=self.read_only,
            layers=[layer.folder for layer in self.layers],
        )

    def __repr__(self) -> str:
        flags = ", read_only=True" if self.read_only else ""
        return f"Store({str(self.folder)!r}{flags})"

    def namespace(self, relpath: str | os.PathLike[str] = "") -> Namespace:
        """The entries kept in ``folder/relpath`` (a step's cache folder, a CacheDict)."""
        from .namespace import Namespace

        return Namespace(self, Path(relpath))

    def verify(self, fix: bool = False, grace_s: float = 3600.0) -> VerifyReport:
        """Re-hash every object and check every entry; ``fix=True`` quarantines the bad."""
        from .verify import verify_store

        return verify_store(self, fix=fix, grace_s=grace_s)

    def gc(self, dry_run: bool = False, grace_s: float = 3600.0) -> GcReport:
        """Remove unreferenced objects and temporaries older than ``grace_s`` seconds."""
        from .gc import collect_garbage

        return collect_garbage(self, dry_run=dry_run, grace_s=grace_s)

    def write_text(self, relpath: str | os.PathLike[str], text: str) -> None:
        """Publish a small human-readable file (a step's config) atomically at ``relpath``."""
        path = self._inside(relpath)
        self.prepare_write(f"write {path.name}")
        with translate_write_errors(self.folder, f"write {path}"):
            publish_bytes(path, text.encode("utf-8"), durable=self.durable)

    def open_log(self, folder: str, stream: Literal["stdout", "stderr"]) -> TextIO:
        """The log file of ``stream`` in the step folder ``folder`` (relative), opened to
        append lines (created with its folders as needed)."""
        path = self._inside(log_file(folder, stream))
        self.prepare_write(f"write the log {path.name}")
        with translate_write_errors(self.folder, f"write {path}"):
            path.parent.mkdir(parents=True, exist_ok=True)
            return path.open("a", encoding="utf-8", buffering=1)

    def read_text(self, relpath: str | os.PathLike[str]) -> str | None:
        """The text of a file written by :meth:`write_text`, from this store or a layer."""
        for store in (self, *self.layers):
            try:
                return store._inside(relpath).read_text(encoding="utf-8")
            except (FileNotFoundError, NotADirectoryError):
                continue
        return None

    def read_texts(self, relpath: str | os.PathLike[str]) -> list[tuple[Path, str]]:
        """``(store root, text)`` of the file at ``relpath`` in this store and each layer
        holding one, in lookup order (to check every folder a value may come from)."""
        found = []
        for store in (self, *self.layers):
            try:
                found.append((store.folder, store._inside(relpath).read_text(encoding="utf-8")))
            except (FileNotFoundError, NotADirectoryError):
                continue
        return found

    def _inside(self, relpath: str | os.PathLike[str]) -> Path:
        rel = Path(relpath)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise ValueError(f"expected a relative path inside the store, got {str(rel)!r}")
        return self.folder / rel

    def check_writable(self, attempted: str) -> None:
        """Refuse with ``ReadOnlyStoreError`` if the store was opened read-only."""
        if self.read_only:
            raise ReadOnlyStoreError(self.folder, attempted, reason="opened with read_only=True")

    def check_can_write(self, attempted: str) -> None:
        """:meth:`prepare_write`, and refuse up front if this user cannot write the folder
        (for maintenance that may find nothing to change: it is refused all the same)."""
        self.prepare_write(attempted)
        if os.access(self.folder, os.W_OK):
            return
        read_only_mount = os.statvfs(self.folder).f_flag & os.ST_RDONLY
        reason = (
            "read-only file system"
            if read_only_mount
            else f"no write permission for uid {os.geteuid()}"
        )
        raise ReadOnlyStoreError(self.folder, attempted, reason=reason)

    def prepare_write(self, attempted: str) -> None:
        """Refuse if read-only; else create the folder and its format marker once."""
        self.check_writable(attempted)
        if self._format_checked:
            return
        marker = {
            "format": "exca-store",
            "version": f"{STORE_FORMAT_MAJOR}.{STORE_FORMAT_MINOR}",
        }
        with translate_write_errors(self.folder, attempted):
            os.makedirs(self.folder, exist_ok=True)
            if not (self.folder / FORMAT_FILE).exists():
                publish_bytes(self.folder / FORMAT_FILE, json.dumps(marker).encode(), durable=False)
        self._format_checked = True


def check_folder_path(folder: Path, what: str) -> None:
    """Refuse ``folder`` if it, or the nearest of its parents that exists, is not a folder
    (``NotAStoreFolderError``, naming that file); a missing folder is fine."""
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            return
        existing = existing.parent
    if existing.is_dir():
        return
    inside = "" if existing == folder else f" (its path runs through the file {existing})"
    raise NotAStoreFolderError(
        f"{what} {folder} is not a folder{inside}; choose another path or remove that file"
    )


def _open_layer(folder: str | os.PathLike[str], verify_reads: VerifyReads) -> Store:
    layer = Store(folder, read_only=True, verify_reads=verify_reads)
    if not layer._format_checked:
        found = "is not an exca store (it has no exca-store.json)"
        if not layer.folder.exists():
            found = "does not exist"
        raise ReadFolderError(
            f"read folder {layer.folder} {found}: check the path in read_folders (or "
            "layers), or remove it from there; a read folder is the root folder of a store"
        )
    return layer


def _verify_reads_setting(value: VerifyReads | None) -> VerifyReads:
    return cast("VerifyReads", choose("verify_reads", value, "EXCA_VERIFY_READS", _VERIFY_READS))


def _check_format(folder: Path) -> bool:
    """Refuse a store written by a newer major format; True if a marker was found."""
    marker = folder / FORMAT_FILE
    try:
        text = marker.read_text()
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        info = json.loads(text)
        major = int(str(info["version"]).split(".")[0])
    except (ValueError, KeyError, TypeError) as err:
        raise FormatVersionError(
            f"unreadable format marker {marker} ({err}); this folder may not be an exca "
            "store, or the marker is damaged: restore it or choose another folder"
        ) from err
    if major > STORE_FORMAT_MAJOR:
        raise FormatVersionError(
            f"store {folder} has format {info['version']}, this exca reads format "
            f"{STORE_FORMAT_MAJOR}.x: upgrade exca to read it"
        )
    return True
