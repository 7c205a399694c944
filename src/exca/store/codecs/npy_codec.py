"""The ``npy`` codec: a numpy array as one ``.npy`` object, read back memory-mapped."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import CodecError
from ._common import check_version, describe_type, is_plain_array, single_object
from .base import Encoded, ObjectReader, ObjectWriter

__all__ = ["NpyCodec", "check_npy_storable"]


class NpyCodec:
    """Arrays of any dtype numpy can save but object (structured, 0-d, empty, Fortran).

    Decoding returns a read-only array: a memory map, or a fully verified in-RAM copy
    when the reader keeps values in RAM. Numpy scalars are refused: the ``msgpack`` codec
    keeps their exact type.
    """

    __slots__ = ()
    name: str = "npy"
    version: int = 1

    def accepts(self, value: Any) -> bool:
        return is_plain_array(value) and not value.dtype.hasobject

    def encode(self, value: Any, writer: ObjectWriter) -> Encoded:
        check_npy_storable(value, self.name)
        return Encoded(inline=None, objects=(writer.put_array(value),))

    def decode(self, encoded: Encoded, reader: ObjectReader, version: int) -> np.ndarray:
        check_version(self, version)
        return reader.open_array(single_object(encoded, self.name))

    def decode_kept(
        self, encoded: Sequence[Encoded], reader: ObjectReader, version: int
    ) -> list[np.ndarray] | None:
        check_version(self, version)
        return reader.kept_arrays([single_object(each, self.name) for each in encoded])


def check_npy_storable(value: Any, codec: str) -> None:
    """Raise :class:`CodecError` unless ``value`` can be stored as a ``.npy`` object."""
    if isinstance(value, np.generic):
        raise CodecError(
            f"codec {codec!r} stores arrays, got a numpy scalar ({describe_type(value)}); "
            "use cache_type='msgpack' (or None) to keep its exact type, or wrap it with "
            "np.asarray(...) to store a 0-d array"
        )
    if not is_plain_array(value):
        hint = (
            "convert it with np.asarray(...) if the subclass adds nothing, or use "
            "cache_type='pickle'"
            if isinstance(value, np.ndarray)
            else "use cache_type=None to choose a codec automatically"
        )
        raise CodecError(f"codec {codec!r} stores numpy arrays, got {describe_type(value)}; {hint}")
    if value.dtype.hasobject:
        raise CodecError(
            f"codec {codec!r} cannot store arrays of dtype {value.dtype} (it holds Python "
            "objects); use cache_type='pickle'"
        )
