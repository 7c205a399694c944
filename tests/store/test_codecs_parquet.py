"""Contract of the ``parquet`` codec: pandas DataFrames whose labels and dtypes parquet
keeps come back equal, index included, from one verified ``.parquet`` object; other
frames are left to pickle by automatic selection, or refused with a reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exca.store.codecs import get_codec
from exca.store.errors import CodecError, CorruptArtifactError
from exca.store.objects import ObjectStore

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
CODEC = get_codec("parquet")


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path)


def round_trip(frame: pd.DataFrame, store: ObjectStore) -> pd.DataFrame:
    return CODEC.decode(CODEC.encode(frame, store), store, CODEC.version)


FRAMES = {
    "numeric columns of several widths": pd.DataFrame(
        {"i1": np.array([1, -2], "i1"), "u8": np.array([1, 2**63], "u8"), "f4": [0.5, np.nan]}
    ),
    "named integer index": pd.DataFrame({"a": [1.0, 2.0]}, index=pd.Index([10, 20], name="k")),
    "string index and column": pd.DataFrame({"s": ["x", None]}, index=["u", "v"]),
    "stepped range index": pd.DataFrame({"a": [1, 2, 3]}, index=pd.RangeIndex(5, 11, 2)),
    "multi-index rows": pd.DataFrame(
        {"a": [1, 2]}, index=pd.MultiIndex.from_tuples([(1, "x"), (2, "y")], names=["n", "s"])
    ),
    "multi-level str columns": pd.DataFrame(
        [[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")])
    ),
    "integer column labels": pd.DataFrame({0: [1], 1: [2]}),
    "tz-aware datetimes and timedeltas": pd.DataFrame(
        {
            "t": pd.date_range("2020-03-29", periods=3, freq="h", tz="Europe/Paris"),
            "d": pd.to_timedelta([1, 2, 3], unit="s"),
        }
    ),
    "categorical, nullable and boolean": pd.DataFrame(
        {
            "c": pd.Categorical(["a", "b", "a"]),
            "n": pd.array([1, None, 3], dtype="Int64"),
            "b": [True, False, True],
        }
    ),
    "no rows": pd.DataFrame({"a": pd.Series([], dtype="f8")}),
}


@pytest.mark.parametrize("frame", FRAMES.values(), ids=FRAMES.keys())
def test_frame_comes_back_equal_with_index_and_dtypes(
    frame: pd.DataFrame, store: ObjectStore
) -> None:
    assert CODEC.accepts(frame)
    encoded = CODEC.encode(frame, store)
    assert encoded.inline is None and [ref.suffix for ref in encoded.objects] == [".parquet"]
    loaded = CODEC.decode(encoded, store, CODEC.version)
    pd.testing.assert_frame_equal(loaded, frame, check_exact=True, check_freq=False)


UNSAFE = {
    "object column": pd.DataFrame({"o": pd.Series(["x", 1], dtype=object)}),
    "object index": pd.DataFrame({"a": [1]}, index=pd.Index(["x"], dtype=object)),
    "complex column": pd.DataFrame({"c": [1j]}),
    "duplicate columns": pd.DataFrame([[1, 2]], columns=["a", "a"]),
    "mixed column labels": pd.DataFrame([[1, 2]], columns=[0, "a"]),
}


@pytest.mark.parametrize("frame", UNSAFE.values(), ids=UNSAFE.keys())
def test_frame_parquet_would_alter_is_not_accepted(frame: pd.DataFrame) -> None:
    assert not CODEC.accepts(frame)


def test_frame_pyarrow_cannot_write_is_refused_with_the_reason(store: ObjectStore) -> None:
    with pytest.raises(CodecError, match="cannot store this DataFrame.*cache_type='pickle'"):
        CODEC.encode(UNSAFE["object column"], store)


def test_non_frame_is_refused(store: ObjectStore) -> None:
    assert not CODEC.accepts({"a": [1]})
    with pytest.raises(CodecError, match="pandas DataFrames, got dict"):
        CODEC.encode({"a": [1]}, store)


def test_altered_object_is_reported_corrupt(tmp_path: Path) -> None:
    encoded = CODEC.encode(FRAMES["named integer index"], ObjectStore(tmp_path))
    (path,) = (tmp_path / "objects").glob("*/*.parquet")
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:-1] + b"!")
    with pytest.raises(CorruptArtifactError):
        CODEC.decode(encoded, ObjectStore(tmp_path), CODEC.version)
