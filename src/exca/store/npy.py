"""The ``.npy`` file format pieces the store needs: header bytes out, header fields in."""

from __future__ import annotations

import ast
import functools
import math
from typing import IO, Final

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


class NpyHeader:
    """What a ``.npy`` header declares, and where the data starts (never changed once made).

    A plain slotted class, not a dataclass: this module loads with the first array read
    of a process, and generating a dataclass's methods costs more than that read.
    """

    __slots__ = ("dtype", "shape", "fortran_order", "data_offset")

    def __init__(
        self, dtype: np.dtype, shape: tuple[int, ...], fortran_order: bool, data_offset: int
    ) -> None:
        self.dtype: Final[np.dtype] = dtype
        self.shape: Final[tuple[int, ...]] = shape
        self.fortran_order: Final[bool] = fortran_order
        self.data_offset: Final[int] = data_offset

    def __repr__(self) -> str:
        fields = f"dtype={self.dtype!r}, shape={self.shape!r}, fortran_order={self.fortran_order!r}"
        return f"NpyHeader({fields}, data_offset={self.data_offset!r})"

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


# The header :func:`header_bytes` (and ``np.save``) writes for a plain dtype, parsed with
# string methods, without compiling it as Python (``ast.literal_eval`` costs ~50 µs, a
# tenth of a first open) nor a regular expression (compiling one cost ~0.3 ms, more than
# the first read of an array); anything else (structured dtypes, other spacing) goes the
# general way. Both writers write ``repr`` of the shape tuple, and one of these endings.
_PLAIN_START = "{'descr': '"
_PLAIN_ENDS = frozenset({"}", ",}", " }", ", }"})
# a descr of these characters reads the same quoted or not (no quote, no backslash)
_DESCR_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_<>|=[]")


def _parse_plain(text: str) -> tuple[np.dtype, tuple[int, ...], bool] | None:
    """``{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`` and the like, or None."""
    if not text.startswith(_PLAIN_START):
        return None
    descr, found_descr, rest = text[len(_PLAIN_START) :].partition("', 'fortran_order': ")
    fortran, found_order, rest = rest.partition(", 'shape': (")
    dims, found_shape, end = rest.partition(")")
    if not (found_descr and found_order and found_shape) or fortran not in ("True", "False"):
        return None
    if not descr or not _DESCR_CHARS.issuperset(descr) or end.rstrip() not in _PLAIN_ENDS:
        return None
    numbers = dims.removesuffix(",").split(", ") if dims else []
    if not all(number.isascii() and number.isdigit() for number in numbers):
        return None
    shape = tuple(map(int, numbers))
    if repr(shape) != f"({dims})":  # exactly a tuple's repr (no leading zero, no odd comma)
        return None
    return _plain_dtype(descr), shape, fortran == "True"


@functools.lru_cache(maxsize=256)
def _plain_dtype(descr: str) -> np.dtype:
    return np.dtype(descr)  # (a plain descr is a dtype string)


def _parse_any(text: str) -> tuple[np.dtype, tuple[int, ...], bool]:
    fields = ast.literal_eval(text)
    dtype = np.lib.format.descr_to_dtype(fields["descr"])
    shape = tuple(int(n) for n in fields["shape"])
    return dtype, shape, bool(fields["fortran_order"])
