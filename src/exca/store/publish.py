"""Atomic publication of files and folders: write beside the target, then rename."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from .errors import ReadOnlyStoreError
from .layout import TEMP_PREFIX, temp_name, temp_path

__all__ = [
    "create_file",
    "discard",
    "make_tree_read_only",
    "publish_bytes",
    "publish_stream",
    "publish_tree",
    "rename_into",
    "translate_write_errors",
]

_READ_ONLY_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS}


@contextmanager
def translate_write_errors(folder: Path, attempted: str) -> Iterator[None]:
    """Turn a permission or read-only-filesystem failure into ``ReadOnlyStoreError``."""
    try:
        yield
    except OSError as err:
        if err.errno in _READ_ONLY_ERRNOS:  # (the reason names no temporary file)
            reason = f"{err.strerror} in {_visible_folder(err.filename, folder)}"
            raise ReadOnlyStoreError(folder, attempted, reason=reason) from err
        raise


def _visible_folder(filename: object, folder: Path) -> str:
    """The folder of the file an OS error names (a writer's file names are temporary)."""
    if not isinstance(filename, str | os.PathLike):
        return str(folder)
    parent = Path(os.fspath(filename)).parent
    while any(part.startswith(TEMP_PREFIX) for part in parent.parts):
        parent = parent.parent
    return str(parent)


def _make_dirs(folder: str | Path) -> None:
    os.makedirs(folder, exist_ok=True)


def create_file(path: str, *, read_only: bool = False) -> IO[bytes]:
    """Open the new file ``path`` for unbuffered writing, creating its folder if missing.

    The folder is created only when the open fails: it exists for every write but the
    first, and checking it each time costs more system calls than the write it serves.
    With ``read_only`` the file is created without write permission (the umask applies
    as usual); the returned handle still writes it, as POSIX lets a file's creator do
    (git creates its loose objects so), which saves a chmod once it is written.
    """
    opener = _read_only_opener if read_only else None
    try:
        return open(path, "xb", buffering=0, opener=opener)
    except FileNotFoundError:
        _make_dirs(os.path.dirname(path))
        return open(path, "xb", buffering=0, opener=opener)


def _read_only_opener(path: str, flags: int) -> int:
    return os.open(path, flags, 0o444)


def _fsync_dir(folder: str | Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_stream(
    final: str | Path,
    write: Callable[[IO[bytes]], None],
    *,
    durable: bool,
    replace: bool = True,
    read_only_file: bool = False,
) -> bool:
    """Write a file through ``write(file)`` into a temporary name, then rename it to ``final``.

    With ``replace=False`` an existing ``final`` is kept and the temporary discarded.
    Returns whether ``final`` was (re)published. On any failure the temporary is removed
    and ``final`` is untouched: readers see the old file, the new one, or none.
    """
    final = os.fspath(final)  # plain strings: pathlib costs more than the system calls here
    tmp = temp_name(final)
    handle = create_file(tmp)
    try:
        with handle:
            write(handle)
            if read_only_file:  # objects are immutable: drop the write bits (umask kept)
                mode = os.fstat(handle.fileno()).st_mode
                os.fchmod(handle.fileno(), mode & ~0o222)
            if durable:
                os.fsync(handle.fileno())
        if not replace and os.path.exists(final):
            os.unlink(tmp)
            return False
        os.replace(tmp, final)
    except BaseException:
        discard(tmp)
        raise
    if durable:
        _fsync_dir(os.path.dirname(final))
    return True


def publish_bytes(
    final: str | Path, data: bytes | bytearray | memoryview, *, durable: bool
) -> None:
    """Atomically replace ``final`` with ``data``."""
    publish_stream(final, lambda handle: _write_all(handle, data), durable=durable)


def _write_all(handle: IO[bytes], data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data).cast("B")
    written = 0
    while written < len(view):  # unbuffered writes may be partial
        count = handle.write(view[written:])
        written += count if count is not None else 0


def publish_tree(final: Path, build: Callable[[Path], None], *, durable: bool) -> Path:
    """Build a folder at a temporary name, and return it (publish with :func:`rename_tree`)."""
    _make_dirs(final.parent)
    tmp = temp_path(final)
    os.mkdir(tmp)
    try:
        build(tmp)
        if durable:
            for folder, _, files in os.walk(tmp):
                for name in files:
                    fd = os.open(os.path.join(folder, name), os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def make_tree_read_only(folder: Path) -> None:
    """Drop the write bits of every file in ``folder`` (objects are immutable; umask kept)."""
    for current, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(current, name)
            os.chmod(path, os.stat(path).st_mode & ~0o222)


def rename_tree(tmp: Path, final: Path, *, durable: bool) -> bool:
    """Rename a built folder into place; if ``final`` exists already, discard ``tmp``."""
    try:
        os.rename(tmp, final)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if err.errno in (errno.EEXIST, errno.ENOTEMPTY):
            return False
        raise
    if durable:
        _fsync_dir(final.parent)
    return True


def rename_into(tmp: str, final: str) -> None:
    """``os.replace(tmp, final)``, creating the fan-out folder of ``final`` if it is missing
    (only then: it exists for all but the first object of its 256th of the digests)."""
    try:
        os.replace(tmp, final)
    except FileNotFoundError:
        if not os.path.exists(tmp):
            raise
        os.makedirs(os.path.dirname(final), exist_ok=True)
        os.replace(tmp, final)


def discard(tmp: str | Path) -> None:
    """Remove the temporary ``tmp`` if it is there."""
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
