"""``ObjectsOnFirstUse``: the store's object writer, made when a value first needs an object.

Small values are held inline in their entries: writing them needs no object store, nor
the numpy import that the object store brings (tens of milliseconds: a process whose
first write is a small value would pay it there).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from .codecs.base import ObjectRef
    from .store import Store

__all__ = ["ObjectsOnFirstUse"]


class ObjectsOnFirstUse:
    """An ``ObjectWriter`` passing each call on to ``store.objects`` (made then)."""

    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store

    def put_bytes(self, data: bytes | bytearray | memoryview, suffix: str) -> ObjectRef:
        return self._store.objects.put_bytes(data, suffix)

    def put_array(self, array: np.ndarray) -> ObjectRef:
        return self._store.objects.put_array(array)

    def put_stream(self, write: Callable[[IO[bytes]], None], suffix: str) -> ObjectRef:
        return self._store.objects.put_stream(write, suffix)

    def put_tree(self, build: Callable[[Path], None], suffix: str) -> ObjectRef:
        return self._store.objects.put_tree(build, suffix)
