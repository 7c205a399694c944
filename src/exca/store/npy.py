"""The ``.npy`` file format pieces the store needs: header bytes out, header fields in."""

from __future__ import annotations

import ast
import functools
import math
import re
from dataclasses import dataclass
from typing import IO

import numpy as np

__all__ = [
    "NpyHeader",
    "HEADER_READ",
    "header_bytes",
    "header_size",
    "parse_header",
    "read_header",
    "array_data_view",
]

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
#: bytes that hold the whole header of nearly every file (numpy aligns data to 64 bytes)
HEADER_READ = 4096


def header_size(start: bytes) -> int:
    """Bytes from the start of a ``.npy`` file to its data, from its first 12 bytes or
    more (``ValueError`` when they are not the start of a ``.npy`` file)."""
    if len(start) < len(_MAGIC) + 2 or not start.startswith(_MAGIC):
        raise ValueError("not a .npy file (bad magic)")
    major = start[len(_MAGIC)]
    if major not in _LENGTH_BYTES:
        raise ValueError(f"unsupported .npy format version {major}")
    prefix = len(_MAGIC) + 2 + _LENGTH_BYTES[major]
    if len(start) < prefix:
        raise ValueError("the .npy header is cut short")
    return prefix + int.from_bytes(start[len(_MAGIC) + 2 : prefix], "little")


def parse_header(data: bytes) -> NpyHeader:
    """Parse the header at the start of ``data``, the first :func:`header_size` bytes of
    a ``.npy`` file or more (formats 1.0 to 3.0); ``ValueError`` when it is not a
    well-formed header."""
    size = header_size(data)
    if len(data) < size:
        raise ValueError("the .npy header is cut short")
    major = data[len(_MAGIC)]
    raw = data[len(_MAGIC) + 2 + _LENGTH_BYTES[major] : size]
    try:
        text = raw.decode("utf8" if major == 3 else "latin1")
        dtype, shape, fortran = _parse_plain(text) or _parse_any(text)
    except (SyntaxError, ValueError, TypeError, KeyError, UnicodeDecodeError) as err:
        raise ValueError(f"unreadable .npy header: {err}") from err
    return NpyHeader(dtype, shape, fortran, size)


def read_header(handle: IO[bytes]) -> NpyHeader:
    """:func:`parse_header` of an open ``.npy`` file, read from its start."""
    data = handle.read(HEADER_READ)
    size = header_size(data)
    if size > len(data):
        data += handle.read(size - len(data))
    return parse_header(data)


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
