"""The ``msgpack`` codec: JSON-like values, tuples, sets, dates, numpy scalars and small
arrays, inline in the entry when small."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack

from ..errors import CodecError
from ._common import check_version, corrupt_payloads, load_payload, store_payload
from ._packable import find_unsupported
from .base import Encoded, ObjectReader, ObjectWriter
from .msgpack_ext import packb, unpackb, unpackb_many

__all__ = ["MsgpackCodec"]


class MsgpackCodec:
    """Default codec for plain values; each part comes back with its exact type.

    Examples
    --------
    >>> from exca.store.codecs import get_codec
    >>> codec = get_codec("msgpack")
    >>> encoded = codec.encode({"a": (1, 2.5), 3: [b"x", None]}, writer=None)
    >>> codec.decode(encoded, reader=None, version=codec.version)
    {'a': (1, 2.5), 3: [b'x', None]}
    """

    __slots__ = ()
    name: str = "msgpack"
    version: int = 1

    def accepts(self, value: Any) -> bool:
        return find_unsupported(value, large_arrays=False) is None

    def encode(self, value: Any, writer: ObjectWriter) -> Encoded:
        # Checked first: msgpack itself would silently turn a bytearray into bytes.
        problem = find_unsupported(value, large_arrays=True)
        if problem is not None:
            raise CodecError(
                f"codec 'msgpack' cannot store {problem} exactly; use cache_type='pickle' "
                "(or None to choose automatically), or register a codec for that type"
            )
        return store_payload(packb(value), writer, ".msgpack")

    def decode(self, encoded: Encoded, reader: ObjectReader, version: int) -> Any:
        if version != self.version:  # the common case costs one comparison
            check_version(self, version)
        inline = encoded.inline  # (the common case first, without a call)
        data = (
            inline
            if inline is not None and not encoded.objects
            else load_payload(encoded, reader, self.name)
        )
        try:  # a plain try, not corrupt_payloads(): this is every small cache hit's path
            return unpackb(data)
        except (ValueError, TypeError, msgpack.UnpackException):
            with corrupt_payloads(self.name, ValueError, TypeError, msgpack.UnpackException):
                raise

    def decode_inline_many(self, payloads: Sequence[bytes], version: int) -> list[Any]:
        """:meth:`decode` of entries stored wholly inline, given their payloads: the same
        values and errors, at a fraction of the cost per value (bulk reads)."""
        if version != self.version:
            check_version(self, version)
        try:
            return unpackb_many(payloads)
        except (ValueError, TypeError, msgpack.UnpackException):
            with corrupt_payloads(self.name, ValueError, TypeError, msgpack.UnpackException):
                raise
