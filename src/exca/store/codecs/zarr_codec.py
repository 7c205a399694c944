"""The ``zarr`` codec: an array as a chunked, compressed zarr v3 directory object, read
back as a lazy read-only ``zarr.Array``."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import CodecError
from ._common import check_version, describe_type, is_plain_array, is_zarr_array, single_object
from .base import Encoded, ObjectReader, ObjectWriter

if TYPE_CHECKING:
    from zarr.core.array_spec import ArrayConfigParams

__all__ = ["ZarrCodec", "chunk_shape"]

#: Target size of one chunk: large enough that per-chunk overhead is small, small enough
#: that reading a slice does not decompress much more than asked.
CHUNK_BYTES = 2 << 20
# Kinds with a Zarr v3 data type specification. Strings, raw bytes and structured
# dtypes are only zarr-python extensions (it warns), so they are left to the npy codec.
_KINDS = frozenset("biufcmM")


class ZarrCodec:
    """Numpy arrays and zarr arrays of bool, numeric or datetime dtype.

    Big-endian data is stored in native byte order (same values). Decoding opens the
    array lazily: nothing is read until it is indexed (``z[...]`` loads it all).
    zarr is imported only when this codec encodes or decodes.
    """

    __slots__ = ()
    name: str = "zarr"
    version: int = 1

    def accepts(self, value: Any) -> bool:
        return (is_plain_array(value) or is_zarr_array(value)) and value.dtype.kind in _KINDS

    def encode(self, value: Any, writer: ObjectWriter) -> Encoded:
        _check_storable(value)
        return Encoded(inline=None, objects=(writer.put_tree(partial(_write, value), ".zarr"),))

    def decode(self, encoded: Encoded, reader: ObjectReader, version: int) -> Any:
        check_version(self, version)
        folder = reader.open_tree(single_object(encoded, self.name))
        import zarr
        from zarr.storage import LocalStore

        return zarr.open_array(LocalStore(folder, read_only=True), mode="r")


def chunk_shape(
    shape: tuple[int, ...], itemsize: int, target: int = CHUNK_BYTES
) -> tuple[int, ...]:
    """Chunks of about ``target`` bytes made of whole trailing rows (C order).

    Examples
    --------
    >>> chunk_shape((10_000, 10_000), 8)
    (26, 10000)
    >>> chunk_shape((), 8), chunk_shape((0, 3), 8)
    ((), (1, 3))
    """
    budget = max(1, target // max(1, itemsize))  # elements left for the leading axes
    chunks: list[int] = []
    for size in reversed(shape):
        length = max(1, min(size, budget))
        chunks.append(length)
        budget = max(1, budget // length)
    return tuple(reversed(chunks))


def _check_storable(value: Any) -> None:
    if not (is_plain_array(value) or is_zarr_array(value)):
        raise CodecError(
            f"codec 'zarr' stores numpy or zarr arrays, got {describe_type(value)}; "
            "use cache_type=None to choose a codec automatically"
        )
    if value.dtype.kind not in _KINDS:
        raise CodecError(
            f"codec 'zarr' stores bool, numeric and datetime arrays, got dtype "
            f"{value.dtype} (no Zarr v3 data type); use cache_type='npy' (or 'pickle' for "
            "object dtype)"
        )


def _write(value: Any, folder: Path) -> None:
    """Write ``value`` as a zarr v3 array at the root of the empty ``folder``."""
    import zarr
    from zarr.storage import LocalStore

    store = LocalStore(folder)
    # zarr skips writing a chunk that compares equal to the fill value, and -0.0 == 0.0:
    # writing every chunk keeps the bits (signed zeros) and makes the tree complete.
    config: ArrayConfigParams = {"write_empty_chunks": True}
    if isinstance(value, np.ndarray):
        if not value.dtype.isnative:
            value = value.astype(value.dtype.newbyteorder("="))
        chunks = chunk_shape(value.shape, value.dtype.itemsize)
        zarr.create_array(store, data=value, chunks=chunks, config=config)
    else:  # keeps the source's chunks and codecs
        zarr.from_array(store, data=value, config=config)
