"""``BlockReader``: objects read for one block of values, kept maps served without a system
call while their store's generation is the one seen when the block began (:mod:`.mapped`
says what is checked, and why that suffices)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import generations, mapped
from .codecs.base import ObjectRef
from .layout import object_file

if TYPE_CHECKING:
    from .object_reads import ReadableObjects

__all__ = ["BlockReader"]


class BlockReader:
    """An ``ObjectReader`` over ``objects`` for one block of values read together.

    Made by :meth:`.objects.ObjectStore.as_of_now` once per block, never kept longer: a
    block is served as the store was when it began. A kept map is served when its file
    was last found to be the same under the generation seen then (no system call);
    anything else is read as a single read of ``objects`` reads it, and what that read
    checks is recorded under the same generation for the next block.
    """

    __slots__ = ("_objects", "_seen", "_serves_kept", "keep_in_ram")

    def __init__(self, objects: ReadableObjects) -> None:
        self._objects = objects
        self.keep_in_ram = objects.keep_in_ram
        # each store's generation, looked at before any of its files is checked
        dirs = objects.object_dirs
        self._seen = dict(zip(dirs, map(generations.current, dirs), strict=True))
        self._serves_kept = not objects.keep_in_ram and objects.verify_reads == "header"

    def open_array(self, ref: ObjectRef) -> np.ndarray:
        kept = self._kept(ref) if self._serves_kept else None
        return kept if kept is not None else self._objects.open_array(ref, self._seen)

    def kept_arrays(self, refs: Sequence[ObjectRef]) -> list[np.ndarray] | None:
        if not self._serves_kept:
            return None
        arrays = []
        for ref in refs:
            array = self._kept(ref)
            if array is None:
                return None
            arrays.append(array)
        return arrays

    def read_bytes(self, ref: ObjectRef) -> bytes:
        return self._objects.read_bytes(ref)

    def open_tree(self, ref: ObjectRef) -> Path:
        return self._objects.open_tree(ref)

    def _kept(self, ref: ObjectRef) -> np.ndarray | None:
        """A view of the kept array of ``ref`` if its file was checked under the
        generation seen for its store, else None (top store first, as reads look)."""
        for objects_dir, generation in self._seen.items():
            opened = mapped.kept(object_file(objects_dir, ref.digest, ref.suffix))
            if opened is not None:
                if opened.checked != generation or opened.array is None:
                    return None
                return opened.array.view() if opened.signature[2] == ref.size else None
        return None
