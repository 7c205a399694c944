"""The ``nested`` codec: containers mixing plain values with arrays, each large array a
memory-mapped ``.npy`` object."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgpack

from ..errors import CodecError, CorruptArtifactError
from ._common import INLINE_LIMIT, check_version, corrupt_payloads, describe_type
from ._packable import find_unsupported
from .base import Encoded, ObjectReader, ObjectRef, ObjectWriter
from .msgpack_ext import packb, unpackb

if TYPE_CHECKING:
    import numpy as np

__all__ = ["NestedCodec"]

_CONTAINERS = (dict, list, tuple)


class NestedCodec:
    """A dict, list or tuple whose leaves are msgpack values or numpy arrays.

    Arrays above the small-array size become ``.npy`` objects (``Encoded.objects`` in
    order of first appearance; an array appearing twice is stored and read back once),
    the rest is extended msgpack referring to them by index: inline when small, else
    one more ``.msgpack`` object placed last (and ``inline`` is None).
    """

    __slots__ = ()
    name: str = "nested"
    version: int = 1

    def accepts(self, value: Any) -> bool:
        return type(value) in _CONTAINERS and find_unsupported(value, large_arrays=True) is None

    def encode(self, value: Any, writer: ObjectWriter) -> Encoded:
        _check_storable(value)
        refs: list[ObjectRef] = []
        indices: dict[int, int] = {}  # id(array) -> index; arrays stay alive meanwhile

        def store_array(array: np.ndarray) -> int:
            if id(array) not in indices:
                refs.append(writer.put_array(array))
                indices[id(array)] = len(refs) - 1
            return indices[id(array)]

        data = packb(value, store_array=store_array)
        if len(data) <= INLINE_LIMIT:
            return Encoded(inline=data, objects=tuple(refs))
        return Encoded(inline=None, objects=(*refs, writer.put_bytes(data, ".msgpack")))

    def decode(self, encoded: Encoded, reader: ObjectReader, version: int) -> Any:
        check_version(self, version)
        refs = encoded.objects
        if encoded.inline is not None:
            data = encoded.inline
        elif refs:
            data, refs = reader.read_bytes(refs[-1]), refs[:-1]
        else:
            raise CorruptArtifactError(
                f"entry of codec {self.name!r}", "it has neither an inline payload nor objects"
            )
        loaded: dict[int, np.ndarray] = {}

        def load_array(index: int) -> np.ndarray:
            if type(index) is not int or not 0 <= index < len(refs):
                raise ValueError(f"array reference {index!r} outside 0..{len(refs) - 1}")
            if index not in loaded:
                loaded[index] = reader.open_array(refs[index])
            return loaded[index]

        with corrupt_payloads(self.name, ValueError, TypeError, msgpack.UnpackException):
            return unpackb(data, load_array=load_array)


def _check_storable(value: Any) -> None:
    if type(value) not in _CONTAINERS:
        raise CodecError(
            f"codec 'nested' stores a dict, list or tuple, got {describe_type(value)}; "
            "use cache_type=None to choose a codec automatically"
        )
    problem = find_unsupported(value, large_arrays=True)
    if problem is not None:
        raise CodecError(
            f"codec 'nested' cannot store {problem} exactly; use cache_type='pickle', "
            "or register a codec for that type"
        )
