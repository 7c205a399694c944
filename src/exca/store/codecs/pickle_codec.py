"""The ``pickle`` codec: the explicit last resort, for values no other codec stores."""

from __future__ import annotations

import pickle
from typing import Any

from ..errors import CodecError
from ._common import check_version, corrupt_payloads, describe_type, load_payload, store_payload
from .base import Encoded, ObjectReader, ObjectWriter

__all__ = ["PickleCodec"]


class PickleCodec:
    """Any picklable value (object-dtype arrays, custom classes), at the highest protocol.

    Inline when the pickle is small, else one ``.pkl`` object. Reading it back needs the
    same classes importable, and runs code: only read stores you trust.
    """

    __slots__ = ()
    name: str = "pickle"
    version: int = 1

    def accepts(self, value: Any) -> bool:
        return True  # the last resort: whether it pickles is known only by trying

    def encode(self, value: Any, writer: ObjectWriter) -> Encoded:
        try:
            data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError) as err:
            raise CodecError(
                f"codec 'pickle' cannot store a value of type {describe_type(value)}: {err}; "
                "return a picklable value, or register a codec for this type"
            ) from err
        return store_payload(data, writer, ".pkl")

    def decode(self, encoded: Encoded, reader: ObjectReader, version: int) -> Any:
        check_version(self, version)
        data = load_payload(encoded, reader, self.name)
        # Only errors meaning "these bytes are no pickle": a missing class (ImportError,
        # AttributeError) is a code problem, not a corrupt payload, and propagates as is.
        with corrupt_payloads(self.name, pickle.UnpicklingError, EOFError):
            return pickle.loads(data)
