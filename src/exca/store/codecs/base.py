"""The codec interface: how a value becomes inline bytes plus stored objects, and back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

__all__ = ["ObjectRef", "Encoded", "ObjectWriter", "ObjectReader", "Codec", "KeptDecoder"]


class ObjectRef(NamedTuple):
    """A stored immutable object: digest of its bytes, size in bytes, file suffix.

    A named tuple rather than a frozen dataclass: bulk reads build one per object of
    every entry, and a tuple costs a fifth of the time to construct.

    For a directory object (a zarr array folder) ``digest`` is the digest of its manifest
    (sorted relative paths with the digests of their files) and ``size`` the sum of
    file sizes.
    """

    digest: str
    size: int
    suffix: str


class Encoded(NamedTuple):
    """What a codec produced: a small inline payload and/or references to objects."""

    inline: bytes | None
    objects: tuple[ObjectRef, ...] = ()


class ObjectWriter(Protocol):
    """Publishes immutable objects into the store (implemented by ``exca.store.objects``)."""

    def put_bytes(self, data: bytes | bytearray | memoryview, suffix: str) -> ObjectRef: ...

    def put_array(self, array: np.ndarray) -> ObjectRef:
        """Store ``array`` as a ``.npy`` object (hashing while writing)."""
        ...

    def put_stream(self, write: Callable[[IO[bytes]], None], suffix: str) -> ObjectRef:
        """Store what ``write(file)`` writes into a binary file opened for writing."""
        ...

    def put_tree(self, build: Callable[[Path], None], suffix: str) -> ObjectRef:
        """Store a directory object: ``build(folder)`` fills a fresh empty folder."""
        ...


class ObjectReader(Protocol):
    """Reads objects back, checking them (implemented by ``exca.store.objects``)."""

    keep_in_ram: bool

    def read_bytes(self, ref: ObjectRef) -> bytes:
        """Whole content, verified against ``ref.digest`` (else ``CorruptArtifactError``)."""
        ...

    def open_array(self, ref: ObjectRef) -> np.ndarray:
        """A ``.npy`` object: read-only memory map (size and header checked), or loaded
        and fully verified when ``keep_in_ram`` is true."""
        ...

    def open_tree(self, ref: ObjectRef) -> Path:
        """Path of a directory object, checked for presence (fully re-hashed when the
        store verifies reads fully)."""
        ...

    def kept_arrays(self, refs: Sequence[ObjectRef]) -> list[np.ndarray] | None:
        """What :meth:`open_array` gives for each of these ``.npy`` objects, when every
        one is served from a memory map this process keeps and checked for the current
        block of reads (no system call, no memory beyond what is kept); else None."""
        ...


@runtime_checkable
class KeptDecoder(Protocol):
    """A codec that can decode a block of values from what a reader keeps in memory
    already (optional: a faster path of :meth:`Codec.decode`, never another result)."""

    def decode_kept(
        self, encoded: Sequence[Encoded], reader: ObjectReader, version: int
    ) -> list[Any] | None:
        """The decoded values, or None when the reader does not keep them all."""
        ...


@runtime_checkable
class Codec(Protocol):
    """Turns values into :class:`Encoded` and back. Registered by ``name``.

    ``version`` is recorded in every entry; a decoder must read every version it ever
    wrote (bump it when the encoding changes).
    """

    name: str
    version: int

    def accepts(self, value: Any) -> bool:
        """Whether automatic selection (``cache_type=None``) may use this codec."""
        ...

    def encode(self, value: Any, writer: ObjectWriter) -> Encoded: ...

    def decode(self, encoded: Encoded, reader: ObjectReader, version: int) -> Any: ...
