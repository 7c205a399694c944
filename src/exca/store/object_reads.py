"""Reading content-addressed objects: found in the store or its layers, checked as read.

The reading half of :class:`.objects.ObjectStore` (which adds publishing): single reads
look at each file (size, and the file's identity for kept maps, see :mod:`.mapped`),
block reads go through :class:`.block_reads.BlockReader`, and ``keep_in_ram`` reads
verify every byte.
"""

from __future__ import annotations

import io
import mmap
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Self

import numpy as np

from . import mapped
from .codecs.base import ObjectRef
from .digest import digest_bytes, tree_digest
from .errors import CorruptArtifactError
from .layout import OBJECTS_DIR, object_file, object_path

if TYPE_CHECKING:
    from .block_reads import BlockReader

__all__ = ["ReadableObjects", "VerifyReads", "check_digest"]

VerifyReads = Literal["header", "full"]


class ReadableObjects:
    """Objects under ``root/objects``, read through optional read-only ``layers`` beneath."""

    def __init__(
        self,
        root: Path,
        *,
        durable: bool = False,
        keep_in_ram: bool = False,
        verify_reads: VerifyReads = "header",
        read_only: bool = False,
        layers: Sequence[Path] = (),
    ) -> None:
        self.root = Path(root)
        self.durable = durable
        self.keep_in_ram = keep_in_ram
        self.verify_reads: VerifyReads = verify_reads
        self.read_only = read_only
        self._roots = (self.root, *(Path(layer) for layer in layers))
        # plain strings on the write path: pathlib costs more there than the system calls
        self._objects_dir = os.path.join(self.root, OBJECTS_DIR)
        self._object_dirs = tuple(os.path.join(root, OBJECTS_DIR) for root in self._roots)
        self._staging = os.path.join(self._objects_dir, "incoming")  # temporaries beside it

    def reading_into_ram(self, keep_in_ram: bool) -> Self:
        """A view of the same objects that reads arrays into RAM (verified) or not: a
        shallow copy (``copy.copy`` cost tens of microseconds on a first lookup)."""
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        view.keep_in_ram = keep_in_ram
        return view

    @property
    def object_dirs(self) -> tuple[str, ...]:
        """The ``objects`` folder of this store and of each layer, in the order reads look."""
        return self._object_dirs

    def as_of_now(self) -> BlockReader:
        """A reader of this store for one block of values read together: kept maps of
        files checked since exca last removed or replaced an object of their store are
        served without a ``stat`` (see :mod:`.block_reads` and :mod:`.mapped`)."""
        from .block_reads import BlockReader  # (on the first block: single reads need none)

        return BlockReader(self)

    def locate(self, ref: ObjectRef) -> Path:
        """The path of an object in this store or its layers, else ``CorruptArtifactError``."""
        return Path(self._find(ref)[0])

    def _find(self, ref: ObjectRef) -> tuple[str, os.stat_result]:
        """The object's file (plain string: hot path) and its status, top store first."""
        for objects_dir in self._object_dirs:
            path = object_file(objects_dir, ref.digest, ref.suffix)
            try:
                return path, os.stat(path)
            except OSError:
                continue
        raise CorruptArtifactError(
            object_path(self.root, ref.digest, ref.suffix), "object is missing"
        )

    def exists(self, ref: ObjectRef) -> bool:
        return any(os.path.exists(object_path(r, ref.digest, ref.suffix)) for r in self._roots)

    def read_bytes(self, ref: ObjectRef) -> bytes:
        path = self._find(ref)[0]
        with open(path, "rb") as handle:
            data = handle.read()
        check_digest(path, ref, data)
        return data

    def open_array(self, ref: ObjectRef, checked: Mapping[str, int] | None = None) -> np.ndarray:
        """A read-only memory map of a ``.npy`` object (size and header checked), or a
        fully verified copy in RAM with ``keep_in_ram``; ``checked``: by objects folder,
        the generation a block reader saw (the file found is recorded as checked then)."""
        if self.keep_in_ram:
            return self._load_array(ref)
        path, st = self._find(ref)
        if st.st_size != ref.size:
            mapped.corrupt(path, f"size is {st.st_size} bytes, expected {ref.size}")
        generation = mapped.UNCHECKED
        if checked is not None:  # (path: <objects folder>/<fan-out>/<name>)
            generation = checked.get(path.rsplit(os.sep, 2)[0], mapped.UNCHECKED)
        opened = mapped.lookup(path, st)
        if opened is None:
            opened, array = mapped.open_npy(path, st, generation)
        else:
            if generation != mapped.UNCHECKED:
                opened = mapped.confirm(path, opened, generation)
            array = mapped.reopen(path, opened)
        if self.verify_reads == "full":
            check_digest(path, ref, opened.mapping or mapped.map_file(path))
        return array

    def kept_arrays(self, refs: Sequence[ObjectRef]) -> list[np.ndarray] | None:
        """None: single reads look at each file (see :meth:`as_of_now` for blocks)."""
        return None

    def _load_array(self, ref: ObjectRef) -> np.ndarray:
        """A fully verified copy in RAM (``keep_in_ram``)."""
        path = self._find(ref)[0]
        with open(path, "rb") as handle:
            data = handle.read()
        check_digest(path, ref, data)
        header = mapped.read_header(path, io.BytesIO(data))
        return mapped.array_from_buffer(header, data)

    def open_tree(self, ref: ObjectRef) -> Path:
        path = self.locate(ref)
        if self.keep_in_ram or self.verify_reads == "full":
            digest, size = tree_digest(path)
            if digest != ref.digest:
                mapped.corrupt(str(path), f"content digest is {digest}, expected {ref.digest}")
        return path

    def iter_paths(self) -> Iterator[Path]:
        """Every object file or folder of the top store (not its layers)."""
        base = self.root / OBJECTS_DIR
        if not base.is_dir():
            return
        for fan in sorted(os.scandir(base), key=lambda e: e.name):
            if fan.is_dir() and len(fan.name) == 2:
                for item in sorted(os.scandir(fan.path), key=lambda e: e.name):
                    yield Path(item.path)


def check_digest(path: str, ref: ObjectRef, data: bytes | mmap.mmap) -> None:
    if len(data) != ref.size:
        mapped.corrupt(path, f"size is {len(data)} bytes, expected {ref.size} (truncated?)")
    actual = digest_bytes(data)
    if actual != ref.digest:
        mapped.corrupt(path, f"content digest is {actual}, expected {ref.digest}")
