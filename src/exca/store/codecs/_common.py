"""Helpers shared by the built-in codecs: size thresholds, payload placement, type tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeGuard

from ..errors import CorruptArtifactError, FormatVersionError
from .base import Codec, Encoded, ObjectReader, ObjectRef, ObjectWriter

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "INLINE_LIMIT",
    "SMALL_ARRAY_BYTES",
    "check_version",
    "corrupt_payloads",
    "describe_type",
    "is_dataframe",
    "is_plain_array",
    "is_zarr_array",
    "load_payload",
    "loaded_numpy",
    "single_object",
    "store_payload",
]

#: Encoded payloads up to this many bytes stay inline in the entry record; larger ones
#: become an object (a record stays cheap to read, an object costs one more file).
INLINE_LIMIT = 64 * 1024
#: Arrays up to this many bytes count as "small": kept inside msgpack payloads rather
#: than stored as their own ``.npy`` object (a file per tiny array costs more than it saves).
SMALL_ARRAY_BYTES = 4 * 1024

# np.memmap is what ObjectReader.open_array returns: storing it again must work. Other
# ndarray subclasses (masked arrays, matrices) carry state a .npy file would drop.
_PLAIN_ARRAY_TYPES = ("ndarray", "memmap")


def loaded_numpy() -> ModuleType | None:
    """numpy if this process has imported it, else None.

    No value can be a numpy object before numpy is imported: a codec tells numpy values
    apart through this, and reading plain values never imports numpy. While another
    thread imports numpy (a pool's worker storing a first array), ``sys.modules`` holds
    it half initialized: the import statement waits for that thread to finish it.
    """
    if "numpy" not in sys.modules:
        return None
    import numpy  # (loaded already, or being loaded: no new import)

    return numpy


def is_plain_array(value: object) -> TypeGuard[np.ndarray]:
    """Whether ``value`` is an ``np.ndarray`` (or ``np.memmap``), not another subclass
    (told by the class's module and name: no numpy import)."""
    kind = type(value)
    return kind.__module__ == "numpy" and kind.__name__ in _PLAIN_ARRAY_TYPES


def _has_class(value: object, package: str, name: str) -> bool:
    """Whether a class named ``name`` from ``package`` is in ``type(value)``'s MRO.

    Lets the registry recognise zarr and pandas values without importing either.
    """
    return any(
        cls.__name__ == name and cls.__module__.partition(".")[0] == package
        for cls in type(value).__mro__
    )


def is_zarr_array(value: object) -> bool:
    """Whether ``value`` is a ``zarr.Array`` (checked without importing zarr)."""
    return _has_class(value, "zarr", "Array")


def is_dataframe(value: object) -> bool:
    """Whether ``value`` is a ``pandas.DataFrame`` (checked without importing pandas)."""
    return _has_class(value, "pandas", "DataFrame")


def store_payload(data: bytes, writer: ObjectWriter, suffix: str) -> Encoded:
    """Inline ``data`` when it is at most :data:`INLINE_LIMIT` bytes, else one object."""
    if len(data) <= INLINE_LIMIT:
        return Encoded(inline=data)
    return Encoded(inline=None, objects=(writer.put_bytes(data, suffix),))


def load_payload(encoded: Encoded, reader: ObjectReader, codec: str) -> bytes:
    """Inverse of :func:`store_payload`: the inline bytes, or the one object's (verified)."""
    if encoded.inline is not None and not encoded.objects:
        return encoded.inline
    if encoded.inline is None and len(encoded.objects) == 1:
        return reader.read_bytes(encoded.objects[0])
    raise _bad_shape(encoded, codec, "an inline payload or exactly one object")


def single_object(encoded: Encoded, codec: str) -> ObjectRef:
    """The only object of an entry whose codec always stores exactly one."""
    if encoded.inline is None and len(encoded.objects) == 1:
        return encoded.objects[0]
    raise _bad_shape(encoded, codec, "exactly one object and no inline payload")


def _bad_shape(encoded: Encoded, codec: str, expected: str) -> CorruptArtifactError:
    inline = "none" if encoded.inline is None else f"{len(encoded.inline)} bytes"
    return CorruptArtifactError(
        f"entry of codec {codec!r}",
        f"expected {expected}, found inline payload {inline} and {len(encoded.objects)} object(s)",
    )


def check_version(codec: Codec, version: int) -> None:
    """Refuse entries written by a newer (or an impossible) version of ``codec``."""
    if not 1 <= version <= codec.version:
        raise FormatVersionError(
            f"entry written by codec {codec.name!r} version {version}, but this exca "
            f"reads versions 1 to {codec.version}; upgrade exca to read it, or recompute "
            "the value"
        )


@contextmanager
def corrupt_payloads(codec: str, *errors: type[Exception]) -> Iterator[None]:
    """Turn ``errors`` raised while parsing a payload into :class:`CorruptArtifactError`.

    Only for parsing bytes that were checked or came from the entry record: a payload
    that does not parse is corrupt, and the caller recomputes instead of returning it.
    """
    try:
        yield
    except CorruptArtifactError:
        raise  # already precise (raised by the reader for an object)
    except errors as err:
        raise CorruptArtifactError(
            f"payload of codec {codec!r}", f"cannot be decoded ({type(err).__name__}: {err})"
        ) from err


def describe_type(value: Any) -> str:
    """``module.QualName`` of ``type(value)``, for error messages."""
    kind = type(value)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"
