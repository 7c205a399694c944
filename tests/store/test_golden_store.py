"""Golden store, pinned forever: every future exca reads ``tests/data/golden-store-v1``.

The committed store (built once by ``make_golden_store.py``) holds values of every
built-in codec, loose and packed entries, cached errors and deleted keys. This module
pins, independently of that script: each value read back with its exact type, the codec
named by each entry, the on-disk name of each key (its digest), a key made by
``key_of``, and what verify and gc find. Reading it writes nothing. If a test here
fails, the store format changed: restore compatibility, or bump the format and add a
``golden-store-v2`` beside this one; never regenerate this store or edit an expectation.
"""

from __future__ import annotations

import datetime as dt
import decimal
import fractions
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from exca.store import CacheDict, Store, key_of
from exca.store.codecs.testing import assert_same_value
from exca.store.entries import key_digest
from exca.store.packs import Pack

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden-store-v1"
STEP = "type=Mult,coeff=3-ab12/cache"
KEYED = "fc3e989930b34f545dcf79b1acc9ce7c"  # key_of({"coeff": 3, "x": (1, 2)})
SHARED = np.arange(700.0)

ROOT_VALUES: dict[str, tuple[str, object]] = {  # key -> (codec, value)
    "int": ("msgpack", 5),
    "float": ("msgpack", 5.0),
    "bool": ("msgpack", True),
    "none": ("msgpack", None),
    "str": ("msgpack", "héllo wörld ✓"),
    "bytes": ("msgpack", b"\x00\xffbytes"),
    "tuple": ("msgpack", (1, "a", (2.5, None))),
    "list": ("msgpack", [1, [2, 3], []]),
    "set": ("msgpack", {1, 2, 3}),
    "frozenset": ("msgpack", frozenset({"a", "b"})),
    "dict": ("msgpack", {"a": 1, 3: [b"x", None], (1, 2): "tuple key", "nan": float("nan")}),
    "numpy-scalars": ("msgpack", [np.float32(1.5), np.int64(-3), np.bool_(True), np.uint8(255),
                                  np.complex128(1 - 2j)]),
    "small-array": ("msgpack", {"tiny": np.arange(6, dtype=np.int16).reshape(2, 3)}),
    "datetimes": ("msgpack", [
        dt.datetime(2024, 5, 6, 7, 8, 9, 123456),
        dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC),
        dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        dt.date(2024, 2, 29), dt.time(12, 30, 15), dt.timedelta(days=1, seconds=2, microseconds=3),
    ]),
    "large-msgpack": ("msgpack", list(range(30_000))),
    "unicode-key-ключ ✓": ("msgpack", 1),
    KEYED: ("msgpack", "keyed by key_of"),
    "float64": ("npy", np.arange(12.0).reshape(3, 4)),
    "fortran": ("npy", np.asfortranarray(np.arange(12, dtype=np.int32).reshape(3, 4))),
    "structured": ("npy", np.array([(1, 2.5, b"ab"), (3, -1.0, b"c")],
                                   dtype=[("i", "<i4"), ("f", "<f8"), ("s", "S2")])),
    "zero-d": ("npy", np.array(3.5)),
    "empty": ("npy", np.zeros((0, 3), dtype=np.float32)),
    "big-endian": ("npy", np.arange(4, dtype=">i8")),
    "datetime64": ("npy", np.array(["2024-01-01", "2024-06-30"], dtype="datetime64[D]")),
    "unicode-array": ("npy", np.array(["a", "héllo"])),
    "fraction": ("pickle", fractions.Fraction(1, 3)),
    "pickled-dict": ("pickle", {"decimal": decimal.Decimal("1.10"), "list": [1, 2]}),
    "nested": ("nested", {"big": np.arange(600.0), "small": np.arange(3), "meta": ("x", 1),
                          "a": SHARED, "b": [SHARED, {"deep": np.ones((40, 20), np.float32)}]}),
}  # fmt: skip
STEP_VALUES: dict[str, tuple[str, object]] = {
    **{f"item-{i}": ("msgpack", {"i": i, "square": i * i}) for i in range(5)},
    "later-packed": ("npy", np.arange(8, dtype=np.uint16)),
    "replaced": ("msgpack", "new value"),
    "loose": ("msgpack", (1.5, "loose")),
}
SPECIAL = {"zarr": "zarr", "object-array": "pickle", "frame": "parquet", "error": "pickle"}

KEY_DIGESTS = {  # key -> its entry's file name / pack index key: pinned forever
    "big-endian": "95b789e80bd8633b419f2fe0eb20f154", "bool": "54486c840b3e8281a1edca5cdd0b9a69",
    "bytes": "95f64cad147d23ee983871c230125b12", "datetime64": "24c8a062345a949a3d10f3dc86957dc0",
    "datetimes": "9b9e085208a813aa349d07d9b4dc4911", "dict": "5bf4629db3174f43dbe2d0b84b47301d",
    "deleted-loose": "2c9b5d6a7fd0b522ccc9b6bd431a21fb", "empty": "2e5ecbac8e9ef7cd8615e13ab99c318b",
    "error": "40558dd8d5aa47d3f6947edb2b638a29", KEYED: "650da74484d7a7323a5dbdbbb9405da0",
    "float": "ef5766ef29ed5d4aae4a60c33403caa6", "float64": "4323fd330b510c5f6455a33c52a4876a",
    "fortran": "25e57aed400477b8c72bbca87691e346", "fraction": "d0958902c4f444953ff43665955fb4fc",
    "frame": "b043c02a3c712377786f80a22afe3a00", "frozenset": "62bf4ccd8fcca9d1eb1397ca1a4c2cf5",
    "int": "7617cc4b435dae7c97211c6082923b47", "large-msgpack": "f2a6ef92e65d03fbe85ede446ac99619",
    "list": "7365a2a1ca4cd10b5b61c49fa1866779", "nested": "701743576d7bd33fc6b8ed6c55056b8a",
    "none": "9cd86bef87ff34f1e8ff2a0266075022", "numpy-scalars": "cd201450d92ae35becadec887eca3930",
    "object-array": "db0e4c34b73da1dbc0ca5cd1e3c03ab8", "set": "9dde49e993f94ed9c99c79bc037b14ac",
    "pickled-dict": "fb46f1d630da6cb032928e8b171d89b4", "str": "a00724552fd99d673e9cf8a4dd243af8",
    "small-array": "a1867a883ac77a283ac86e711bd5e431", "tuple": "37e0db04de9b16fc58d48f30129eb418",
    "structured": "9fa4ce7324212a7aaf0f9371b503aa05", "zarr": "5662a8bd11a88650adef61cf787a5f96",
    "unicode-array": "548e4dcb9c386630fb10ec9514d271e9", "zero-d": "006c28100e63c515eb5bbdc1935c99e0",
    "unicode-key-ключ ✓": "71e709312182892ce5005c66471e5c80",
}  # fmt: skip
STEP_DIGESTS = {  # (digest, where the newest record is)
    "deleted-packed": ("20521cd27199c9393c038a51ceccb878", "loose"),
    "error-packed": ("23f5f120881be7609b8d7d2092cd66da", "packed"),
    "item-0": ("5fab7ab1a953bfe4f7f4d5c4771a8b33", "packed"),
    "item-1": ("9adbc06b2447e5ed5fc2a74144e85517", "packed"),
    "item-2": ("4dc4df555bf2eae2892fb1471adbd0e8", "packed"),
    "item-3": ("b70ee4b53f36fc3c7aef4a84f5dc0d24", "packed"),
    "item-4": ("15ddd7c66eaf878e16378f425a79cb54", "packed"),
    "later-packed": ("7272e19ed27790120fdaa61cbe743b99", "packed"),
    "loose": ("e85a07ae8d2699a6bd9364f1bb248085", "loose"),
    "replaced": ("5ea053415bf09d1e4f2b3ca22528884a", "loose"),
}
ORPHANS = [  # objects of the deleted keys, left for gc
    "objects/31/f52dc0446b9a040f706c0a67416b23.npy",
    "objects/b6/37961ec1dccdc2b44cd15a045713a0.npy",
]


def _snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    return {
        str(path.relative_to(root)): (path.lstat().st_size, path.lstat().st_mtime_ns,
                                      path.lstat().st_ino)
        for path in [root, *root.rglob("*")]
    }  # fmt: skip


@pytest.fixture(scope="module")
def golden() -> Iterator[Store]:
    """The committed store, read in place: every test's reads must leave it as it is."""
    assert GOLDEN.is_dir(), f"the committed golden store is missing: {GOLDEN}"
    before = _snapshot(GOLDEN)
    yield Store(GOLDEN, read_only=True)
    assert _snapshot(GOLDEN) == before, "reading the golden store changed it"


def test_the_format_marker_and_the_key_digests_are_pinned() -> None:
    marker = json.loads((GOLDEN / "exca-store.json").read_text())
    assert marker == {"format": "exca-store", "version": "1.0"}
    assert key_of({"coeff": 3, "x": (1, 2)}) == KEYED
    for key, digest in KEY_DIGESTS.items():
        assert key_digest(key).hex() == digest, key
        assert (GOLDEN / "entries" / digest).is_file(), key  # every root entry is loose
    packed = {
        bytes(digest).hex()
        for path in (GOLDEN / STEP / "packs").iterdir()
        for digest, _ in Pack.open(path)
    }
    for key, (digest, where) in STEP_DIGESTS.items():
        assert key_digest(key).hex() == digest, key
        assert (GOLDEN / STEP / "entries" / digest).is_file() == (where == "loose"), key
        assert where == "loose" or digest in packed, key


@pytest.mark.parametrize("keep_in_ram", [False, True])
def test_every_plain_value_reads_back_exactly_with_its_codec(golden: Store, keep_in_ram) -> None:
    for relpath, values in (("", ROOT_VALUES), (STEP, STEP_VALUES)):
        namespace = golden.namespace(relpath)
        for key, (codec, expected) in values.items():
            entry = namespace.entry(key)
            assert entry is not None and entry.status == "success", key
            assert (entry.codec, entry.codec_version) == (codec, 1), key
            loaded = namespace.load(entry, keep_in_ram=keep_in_ram)
            assert_same_value(loaded, expected, path=key)
            if codec == "npy":
                assert isinstance(loaded, np.memmap) != keep_in_ram, key
                assert not loaded.flags.writeable, key
    fortran = golden.namespace("").load(golden.namespace("").entry("fortran"))  # type: ignore[arg-type]
    assert fortran.flags.f_contiguous and not fortran.flags.c_contiguous
    nested = golden.namespace("").entry("nested")
    assert len(nested.objects) == 2  # type: ignore[union-attr]  # the shared array once


def test_zarr_pickled_object_arrays_and_cached_errors_read_back(golden: Store) -> None:
    namespace = golden.namespace("")
    entries = {key: namespace.entry(key) for key in SPECIAL}
    assert {key: entry.codec for key, entry in entries.items()} == SPECIAL  # type: ignore[union-attr]
    lazy = namespace.load(entries["zarr"])  # type: ignore[arg-type]
    assert type(lazy).__module__.startswith("zarr") and lazy.shape == (10, 100)
    assert_same_value(lazy[...], np.arange(1000, dtype=np.float32).reshape(10, 100))
    objects = namespace.load(entries["object-array"])  # type: ignore[arg-type]
    assert objects.dtype == object and objects.tolist() == ["a", 1, None]
    assert entries["error"].status == "error"  # type: ignore[union-attr]
    error = namespace.load_error(entries["error"])  # type: ignore[arg-type]
    assert type(error) is ValueError and error.args == ("boom",)
    assert "ValueError: boom" in entries["error"].error_text  # type: ignore[union-attr,operator]
    step = golden.namespace(STEP)
    packed_error = step.load_error(step.entry("error-packed"))  # type: ignore[arg-type]
    assert type(packed_error) is KeyError and packed_error.args == ("missing",)


def test_a_dataframe_reads_back_from_parquet(golden: Store) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    namespace = golden.namespace("")
    expected = pd.DataFrame(
        {"a": [1, 2, 3], "b": [0.5, 1.5, 2.5],
         "when": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"])},
        index=pd.Index([10, 20, 30], name="id"),
    )  # fmt: skip
    pd.testing.assert_frame_equal(namespace.load(namespace.entry("frame")), expected)  # type: ignore[arg-type]


def test_deleted_keys_stay_deleted_and_listings_are_exact(golden: Store) -> None:
    root, step = golden.namespace(""), golden.namespace(STEP)
    assert "deleted-loose" not in root and "deleted-packed" not in step
    assert sorted(root.keys()) == sorted([*ROOT_VALUES, *SPECIAL])
    assert sorted(step.keys()) == sorted([*STEP_VALUES, "error-packed"])
    assert set(step.entries([*STEP_DIGESTS, "absent"])) == set(STEP_VALUES) | {"error-packed"}


def test_verify_finds_the_golden_store_whole_and_gc_finds_only_the_deleted_values(
    golden: Store,
) -> None:
    report = golden.verify()
    assert report.ok, str(report)
    assert (report.objects_checked, report.entries_checked) == (16, 43)
    removable = golden.gc(dry_run=True, grace_s=0).removed
    assert sorted(str(path.relative_to(GOLDEN)) for path in removable) == ORPHANS


def test_reading_the_golden_store_writes_nothing_even_when_opened_writable(
    tmp_path: Path, golden: Store
) -> None:
    before = _snapshot(GOLDEN)
    copy = tmp_path / "golden"
    shutil.copytree(GOLDEN, copy)
    copied = _snapshot(copy)
    for options in ({}, {"verify_reads": "full"}):
        cache = CacheDict(copy, **options)  # type: ignore[arg-type]
        values = dict(cache.items())
        assert sorted(values) == sorted({*ROOT_VALUES, *SPECIAL} - {"error"})
        step = CacheDict(copy / STEP, root=copy, keep_in_ram=True, **options)  # type: ignore[arg-type]
        assert step["replaced"] == "new value" and len(step) == 8  # the cached error is no value
    assert Store(copy).verify().ok and os.listdir(copy / "objects")
    assert _snapshot(copy) == copied
    assert _snapshot(GOLDEN) == before
