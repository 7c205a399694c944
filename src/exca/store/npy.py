"""The ``.npy`` file format pieces the store needs: header bytes out, header fields in."""

from __future__ import annotations

import ast
import functools
import math
import re
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
        return math.prod(self.shape) * self.dtype.itemsize


def header_bytes(array: np.ndarray) -> bytes:
    """The ``.npy`` header for ``array``: format 1.0, 2.0 for very long dtypes, 3.0 when
    field names need utf-8 (as ``np.save`` chooses).

    Fortran-ordered arrays that are not also C-contiguous are declared ``fortran_order``
    so their bytes are written as they lie in memory.
    """
    fortran = bool(array.flags.f_contiguous and not array.flags.c_contiguous)
    fields = {
        "descr": np.lib.format.dtype_to_descr(array.dtype),
        "fortran_order": fortran,
        "shape": tuple(array.shape),
    }
    text = repr(fields)
    versions: tuple[tuple[int, int], ...]
    try:
        encoded, versions = text.encode("latin1"), ((1, 2), (2, 4))
    except UnicodeEncodeError:
        encoded, versions = text.encode("utf8"), ((3, 4),)
    for version, size_bytes in versions:
        prefix = len(_MAGIC) + 2 + size_bytes
        padded = -(-(prefix + len(encoded) + 1) // 64) * 64  # aligned data, as numpy does
        length = padded - prefix
        if length < 256**size_bytes:
            body = encoded + b" " * (length - len(encoded) - 1) + b"\n"
            return _MAGIC + bytes([version, 0]) + length.to_bytes(size_bytes, "little") + body
    raise ValueError(f"dtype description too long for a .npy header: {len(encoded)} bytes")


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


_LENGTH_BYTES = {1: 2, 2: 4, 3: 4}


def read_header(handle: IO[bytes]) -> NpyHeader:
    """Parse the header at the start of an open ``.npy`` file (formats 1.0 to 3.0).

    Raises ``ValueError`` when it is not a well-formed header.
    """
    start = handle.read(len(_MAGIC) + 2)
    if len(start) != len(_MAGIC) + 2 or not start.startswith(_MAGIC):
        raise ValueError("not a .npy file (bad magic)")
    major = start[len(_MAGIC)]
    if major not in _LENGTH_BYTES:
        raise ValueError(f"unsupported .npy format version {major}")
    length_bytes = handle.read(_LENGTH_BYTES[major])
    length = int.from_bytes(length_bytes, "little")
    raw = handle.read(length)
    if len(length_bytes) != _LENGTH_BYTES[major] or len(raw) != length:
        raise ValueError("the .npy header is cut short")
    try:
        text = raw.decode("utf8" if major == 3 else "latin1")
        dtype, shape, fortran = _parse_plain(text) or _parse_any(text)
    except (SyntaxError, ValueError, TypeError, KeyError, UnicodeDecodeError) as err:
        raise ValueError(f"unreadable .npy header: {err}") from err
    return NpyHeader(dtype, shape, fortran, handle.tell())


# The header :func:`header_bytes` (and ``np.save``) writes for a plain dtype, parsed
# without compiling it as Python (``ast.literal_eval`` costs ~50 µs, a tenth of a first
# open); anything else (structured dtypes, other spacing) goes the general way. (Compiled
# on first use: 0.5 ms a process that reads no array need not pay.)
@functools.cache
def _plain_header() -> re.Pattern[str]:
    return re.compile(
        r"\{'descr': '([<>|=]?[a-zA-Z]\w*(?:\[\w+\])?)', 'fortran_order': (True|False), "
        r"'shape': \(((?:\d+, )*\d*),?\),? ?\}\s*\Z"
    )


def _parse_plain(text: str) -> tuple[np.dtype, tuple[int, ...], bool] | None:
    match = _plain_header().match(text)
    if match is None:
        return None
    descr, fortran, dims = match.groups()
    shape = tuple(int(n) for n in dims.split(", ") if n)
    return _plain_dtype(descr), shape, fortran == "True"


@functools.lru_cache(maxsize=256)
def _plain_dtype(descr: str) -> np.dtype:
    return np.dtype(descr)  # (a plain descr is a dtype string)


def _parse_any(text: str) -> tuple[np.dtype, tuple[int, ...], bool]:
    fields = ast.literal_eval(text)
    dtype = np.lib.format.descr_to_dtype(fields["descr"])
    shape = tuple(int(n) for n in fields["shape"])
    return dtype, shape, bool(fields["fortran_order"])
