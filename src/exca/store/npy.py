"""The ``.npy`` file format pieces the store needs: header bytes out, header fields in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

import numpy as np

__all__ = ["NpyHeader", "header_bytes", "read_header", "array_data_view"]

_MAGIC = b"\x93NUMPY"


@dataclass(frozen=True, slots=True)
class NpyHeader:
    dtype: np.dtype
    shape: tuple[int, ...]
    fortran_order: bool
    data_offset: int

    @property
    def data_size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


def header_bytes(array: np.ndarray) -> bytes:
    """The ``.npy`` header (format 1.0, or 2.0 for very long dtypes) for ``array``.

    Fortran-ordered arrays that are not also C-contiguous are declared ``fortran_order``
    so their bytes are written as they lie in memory.
    """
    fortran = bool(array.flags.f_contiguous and not array.flags.c_contiguous)
    fields = {
        "descr": np.lib.format.dtype_to_descr(array.dtype),
        "fortran_order": fortran,
        "shape": tuple(array.shape),
    }
    text = repr(fields).encode("latin1")
    for version, size_bytes in ((1, 2), (2, 4)):
        prefix = len(_MAGIC) + 2 + size_bytes
        padded = -(-(prefix + len(text) + 1) // 64) * 64  # aligned data, as numpy does
        length = padded - prefix
        if length < 256**size_bytes:
            body = text + b" " * (length - len(text) - 1) + b"\n"
            return _MAGIC + bytes([version, 0]) + length.to_bytes(size_bytes, "little") + body
    raise ValueError(f"dtype description too long for a .npy header: {len(text)} bytes")


def array_data_view(array: np.ndarray) -> memoryview:
    """The array's bytes in the order :func:`header_bytes` declares, without copying
    contiguous arrays."""
    if array.flags.c_contiguous:
        flat = array.reshape(-1)
    elif array.flags.f_contiguous:
        flat = array.T.reshape(-1)
    else:
        flat = np.ascontiguousarray(array).reshape(-1)
    return flat.view(np.uint8).data


def read_header(handle: IO[bytes]) -> NpyHeader:
    """Parse the header at the start of an open ``.npy`` file."""
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
    else:
        raise ValueError(f"unsupported .npy format version {version}")
    return NpyHeader(np.dtype(dtype), tuple(shape), bool(fortran), handle.tell())
