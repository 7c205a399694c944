"""Contract of the ``parquet`` codec: pandas DataFrames whose labels and dtypes parquet
keeps come back equal, index included, from one verified ``.parquet`` object; other
frames are left to pickle by automatic selection, or refused with a reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exca.store.codecs import get_codec
from exca.store.errors import CodecError, CorruptArtifactError
from exca.store.objects import ObjectStore

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
hpd = pytest.importorskip("hypothesis.extra.pandas")
CODEC = get_codec("parquet")
PROPERTY = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
DTYPES = ["i1", "i8", "u2", "u8", "f4", "f8", "?", "M8[ns]", "M8[ms]", "m8[ns]", "m8[s]"]


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    """Frames of 1 to 4 named columns of numeric, bool and datetime dtypes, on a range,
    integer or datetime index."""
    names = draw(st.lists(st.text(min_size=1, max_size=4), unique=True, min_size=1, max_size=4))
    columns = [hpd.column(name, dtype=draw(st.sampled_from(DTYPES))) for name in names]
    index = draw(
        st.sampled_from(
            [
                hpd.range_indexes(max_size=6),
                hpd.indexes(dtype="i8", max_size=6),
                hpd.indexes(dtype="M8[ns]", max_size=6),
            ]
        )
    )
    return draw(hpd.data_frames(columns, index=index))


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


@PROPERTY
@given(frame=frames())
def test_any_generated_frame_round_trips_exactly(frame: pd.DataFrame, store: ObjectStore) -> None:
    assert CODEC.accepts(frame)
    pd.testing.assert_frame_equal(round_trip(frame, store), frame, check_exact=True)


UNSAFE = {
    "object column": pd.DataFrame({"o": pd.Series(["x", 1], dtype=object)}),
    "object index": pd.DataFrame({"a": [1]}, index=pd.Index(["x"], dtype=object)),
    "complex column": pd.DataFrame({"c": [1j]}),
    "duplicate columns": pd.DataFrame([[1, 2]], columns=["a", "a"]),
    "mixed column labels": pd.DataFrame([[1, 2]], columns=[0, "a"]),
    "datetimes in seconds": pd.DataFrame({"t": np.array([0], "M8[s]")}),
    "tz-aware datetimes in seconds": pd.DataFrame(
        {"t": pd.Series(np.array([0], "M8[s]")).dt.tz_localize("UTC")}
    ),
    "rows without columns": pd.DataFrame(index=pd.RangeIndex(2)),
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
