"""The ``parquet`` codec: a pandas DataFrame as one parquet object (pandas and pyarrow
imported only when used)."""

from __future__ import annotations

import importlib.util
import io
from typing import Any

from ..errors import CodecError
from ._common import check_version, describe_type, is_dataframe, single_object
from .base import Encoded, ObjectReader, ObjectWriter

__all__ = ["ParquetCodec", "parquet_available"]

# numpy dtype kinds that parquet brings back unchanged; object columns do not (strings
# come back as the string dtype, mixed objects fail), nor do complex or raw bytes.
_SAFE_KINDS = frozenset("biufmM")


def parquet_available() -> bool:
    """Whether pandas and pyarrow are installed (found without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in ("pandas", "pyarrow"))


class ParquetCodec:
    """DataFrames whose index, columns and dtypes parquet round-trips.

    ``accepts`` is conservative (unique labels, no object-dtype columns or index, no
    complex): automatic selection sends other frames to pickle. Asked explicitly, the
    codec stores what pyarrow can write, possibly with a changed dtype (object columns
    of str come back with the string dtype). An index ``freq`` is not kept.
    """

    __slots__ = ()
    name: str = "parquet"
    version: int = 1

    def accepts(self, value: Any) -> bool:
        return is_dataframe(value) and parquet_available() and _round_trips(value)

    def encode(self, value: Any, writer: ObjectWriter) -> Encoded:
        if not is_dataframe(value):
            raise CodecError(
                f"codec 'parquet' stores pandas DataFrames, got {describe_type(value)}; "
                "use cache_type=None to choose a codec automatically"
            )
        try:
            data = value.to_parquet(engine="pyarrow")
        except ImportError as err:
            raise CodecError(
                f"codec 'parquet' needs pyarrow ({err}); pip install pyarrow, or use "
                "cache_type='pickle'"
            ) from err
        except (ValueError, TypeError, NotImplementedError) as err:  # Arrow*Error included
            raise CodecError(
                f"codec 'parquet' cannot store this DataFrame: {err}; use cache_type='pickle'"
            ) from err
        return Encoded(inline=None, objects=(writer.put_bytes(data, ".parquet"),))

    def decode(self, encoded: Encoded, reader: ObjectReader, version: int) -> Any:
        check_version(self, version)
        data = reader.read_bytes(single_object(encoded, self.name))
        import pandas as pd

        return pd.read_parquet(io.BytesIO(data), engine="pyarrow")


def _round_trips(frame: Any) -> bool:
    """Whether parquet brings ``frame`` back equal, judged from labels and dtypes."""
    columns, index = frame.columns, frame.index
    if not columns.is_unique or not all(_labels_ok(columns, i) for i in range(columns.nlevels)):
        return False
    if len(columns) == 0 and len(index) > 0 and type(index).__name__ == "RangeIndex":
        return False  # a range index is only metadata: without columns the rows are lost
    dtypes = [*frame.dtypes, *(index.get_level_values(i).dtype for i in range(index.nlevels))]
    return all(_dtype_ok(dtype) for dtype in dtypes)


def _labels_ok(columns: Any, level: int) -> bool:
    labels = columns.get_level_values(level)
    return labels.dtype != object or all(type(label) is str for label in labels)


def _dtype_ok(dtype: Any) -> bool:
    import numpy as np

    if getattr(dtype, "kind", "") == "M" and _datetime_unit(dtype) not in ("ms", "us", "ns"):
        return False  # parquet timestamps are ms, us or ns: seconds come back as ms
    if isinstance(dtype, np.dtype):
        return dtype.kind in _SAFE_KINDS
    if getattr(dtype, "name", "") == "category":
        return _dtype_ok(dtype.categories.dtype)
    return not str(dtype).startswith("Sparse")  # other pandas extension dtypes round-trip


def _datetime_unit(dtype: Any) -> str:
    import numpy as np

    return np.datetime_data(dtype)[0] if isinstance(dtype, np.dtype) else str(dtype.unit)
