"""Immutable content-addressed objects: published once by digest (reads: ``object_reads``)."""

from __future__ import annotations

import mmap
import os
import shutil
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Literal

import numpy as np

from . import generations, hashing_writer, npy
from ._preallocate import preallocate
from .codecs.base import ObjectRef
from .digest import digest_bytes, new_hasher, tree_digest
from .errors import ReadOnlyStoreError
from .layout import OBJECTS_DIR, object_file, object_path, temp_name, temp_path
from .object_reads import ReadableObjects, VerifyReads
from .pins import protect_from_gc
from .publish import (
    _fsync_dir,
    create_file,
    discard,
    make_tree_read_only,
    publish_tree,
    rename_into,
    rename_tree,
    translate_write_errors,
)

__all__ = ["ObjectStore", "VerifyReads", "tree_digest"]

Existing = Literal["absent", "sound", "damaged"]
_PREALLOCATE_FROM = 1 << 20


class ObjectStore(ReadableObjects):
    """Objects under ``root/objects`` (read as :class:`.object_reads.ReadableObjects` does),
    published once by their digest; read-only ``layers`` beneath are never written."""

    # ----------------------------------------------------------------- writing
    def put_bytes(self, data: bytes | bytearray | memoryview, suffix: str) -> ObjectRef:
        view = memoryview(data).cast("B")
        ref = ObjectRef(digest_bytes(view), view.nbytes, suffix)
        return self._publish_known(ref, lambda handle: handle.write(view))

    def put_array(self, array: np.ndarray) -> ObjectRef:
        if array.dtype.hasobject:
            raise TypeError("object-dtype arrays cannot be stored as .npy; use the pickle codec")
        header = npy.header_bytes(array)
        data = npy.array_data_view(array)
        size = len(header) + data.nbytes

        def write(handle: IO[bytes]) -> None:
            handle.write(header)
            handle.write(data)

        if size >= hashing_writer.OVERLAP_FROM:  # hashed while it is written, in a helper thread
            return self._publish(write, ".npy", size_hint=size)
        hasher = new_hasher()  # hashed first, then written (see OVERLAP_FROM for why)
        hasher.update(header)
        hasher.update(data)
        return self._publish_known(ObjectRef(hasher.hexdigest(), size, ".npy"), write)

    def put_stream(self, write: Callable[[IO[bytes]], None], suffix: str) -> ObjectRef:
        return self._publish(write, suffix)

    def put_tree(self, build: Callable[[Path], None], suffix: str) -> ObjectRef:
        self._check_writable("write an object")
        incoming = self.root / OBJECTS_DIR / "incoming"
        with translate_write_errors(self.root, "write an object"):
            tmp = publish_tree(incoming, build, durable=self.durable)
            try:
                digest, size = tree_digest(tmp)
                ref = ObjectRef(digest, size, suffix)
                existing = self._reuse_existing(ref)
                if existing == "sound":
                    shutil.rmtree(tmp)
                    return ref
                make_tree_read_only(tmp)
                final = object_path(self.root, digest, suffix)
                os.makedirs(final.parent, exist_ok=True)
                if final.exists():  # damaged: move it aside first (a folder is not replaced)
                    aside = temp_path(final)
                    os.rename(final, aside)
                    shutil.rmtree(aside, ignore_errors=True)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            rename_tree(tmp, final, durable=self.durable)
            if existing == "damaged":
                generations.renew(self._objects_dir)
        return ref

    def _reuse_existing(self, ref: ObjectRef) -> Existing:
        """Whether an object with that digest is published (``"absent"`` if not), and if
        so whether its content checks out (``"sound"``: reuse it) or not (``"damaged"``:
        replace it, then :func:`.generations.renew`, so readers look at the file again).

        The trap of content addressing: a damaged file carries the name of the good
        content, so an existing object is re-hashed (a read, cheaper than the write it
        saves) before it is reused. A good one is kept rather than replaced: readers on
        other NFS hosts may have it open, and a replaced file turns their handles stale.
        A reused object is then kept from ``gc`` for a grace period: see
        :func:`.pins.protect_from_gc`.
        """
        final = object_file(self._objects_dir, ref.digest, ref.suffix)
        try:  # one system call when it is absent (the usual case: new content)
            fd = os.open(final, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return "absent"
        try:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                good = tree_digest(Path(final))[0] == ref.digest
            else:
                good = _fd_digest(fd, info.st_size, ref.size) == ref.digest
        finally:
            os.close(fd)
        if not good:
            return "damaged"
        return "sound" if protect_from_gc(final, info.st_uid) else "absent"

    def protect(self, refs: Iterable[ObjectRef]) -> list[ObjectRef]:
        """Keep published objects from ``gc`` again, as a writer reusing one does, and
        return those that are gone.

        For a writer that held its entries back (a batch): its objects were new when
        written, and gc removes an unreferenced object once older than its grace
        period, however long the entry referring to it waits in the buffer. Called
        just before those entries are published (see :func:`.pins.protect_from_gc`).
        """
        missing = []
        for ref in {ref.digest + ref.suffix: ref for ref in refs}.values():
            final = object_file(self._objects_dir, ref.digest, ref.suffix)
            try:
                owner = os.stat(final).st_uid
            except FileNotFoundError:
                missing.append(ref)
                continue
            if not protect_from_gc(final, owner):
                missing.append(ref)
        return missing

    def _publish(
        self, write: Callable[[IO[bytes]], object], suffix: str, size_hint: int = 0
    ) -> ObjectRef:
        self._check_writable("write an object")
        with translate_write_errors(self.root, "write an object"):
            # in objects/ itself: the digest, hence the fan-out folder, is known only
            # once the content is written
            tmp = temp_name(self._staging)
            handle = create_file(tmp, read_only=True)  # objects are immutable (umask kept)
            try:
                ref = self._write_hashed(handle, write, suffix, size_hint)
                existing = self._reuse_existing(ref)
                if existing == "sound":
                    os.unlink(tmp)
                    return ref
                final = object_file(self._objects_dir, ref.digest, suffix)
                rename_into(tmp, final)  # replaces only a damaged object
            except BaseException:
                discard(tmp)
                raise
            if existing == "damaged":
                generations.renew(self._objects_dir)
            if self.durable:  # the rename, too, must survive a power loss
                _fsync_dir(os.path.dirname(final))
        return ref

    def _publish_known(self, ref: ObjectRef, write: Callable[[IO[bytes]], object]) -> ObjectRef:
        """Publish content whose digest is known before it is written.

        An object already there (and sound) is not written again, and the temporary is
        created in the fan-out folder of its final name: creating a file there and
        renaming it within the folder measured cheaper than going through ``objects/``.
        """
        self._check_writable("write an object")
        with translate_write_errors(self.root, "write an object"):
            existing = self._reuse_existing(ref)
            if existing == "sound":
                return ref
            final = object_file(self._objects_dir, ref.digest, ref.suffix)
            tmp = temp_name(final)
            handle = create_file(tmp, read_only=True)  # objects are immutable (umask kept)
            try:
                with handle:
                    if ref.size >= _PREALLOCATE_FROM:  # one extent reserved up front
                        preallocate(handle.fileno(), ref.size)
                    write(hashing_writer.Writer(handle))  # type: ignore[arg-type]
                    if self.durable:
                        os.fsync(handle.fileno())
                os.replace(tmp, final)  # replaces only a damaged object
            except BaseException:
                discard(tmp)
                raise
            if existing == "damaged":
                generations.renew(self._objects_dir)
            if self.durable:  # the rename, too, must survive a power loss
                _fsync_dir(os.path.dirname(final))
        return ref

    def _write_hashed(
        self, raw: IO[bytes], write: Callable[[IO[bytes]], object], suffix: str, size_hint: int
    ) -> ObjectRef:
        with raw:
            if size_hint >= _PREALLOCATE_FROM:  # one extent reserved up front writes faster
                preallocate(raw.fileno(), size_hint)
            writer = hashing_writer.HashingWriter(raw)
            write(writer)  # type: ignore[arg-type]
            if self.durable:
                os.fsync(raw.fileno())
        return ObjectRef(writer.hasher.hexdigest(), writer.size, suffix)

    def _check_writable(self, attempted: str) -> None:
        if self.read_only:
            raise ReadOnlyStoreError(self.root, attempted, reason="opened with read_only=True")


def _fd_digest(fd: int, size: int, expected_size: int) -> str | None:
    """Digest of an open file of ``size`` bytes, or None when that is not ``expected_size``."""
    if size != expected_size:
        return None
    if size == 0:
        return digest_bytes(b"")
    with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mapped:
        return digest_bytes(mapped)
