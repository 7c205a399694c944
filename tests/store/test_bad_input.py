"""Contract: bad input is a clear error, and nothing is written or lost (issue 2 point 10).

Non-string keys, values ``key_of`` cannot encode, values no codec accepts, unknown codec
names, a folder that is a file, a store or entry written by a newer format: each raises
an error whose type a caller can catch as the builtin it means (``TypeError``,
``KeyError``, ``NotADirectoryError``, ``RuntimeError``) and whose message says what
failed, where, and what to do. Every existing key stays readable and no file appears,
changes or disappears, not even the temporaries of a failed write.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import msgpack
import numpy as np
import pytest

from exca.store import (
    CacheDict,
    CodecError,
    FormatVersionError,
    NotAStoreFolderError,
    Store,
    UnknownCodecError,
    codec_names,
    key_of,
)
from exca.store.codecs.base import Encoded
from exca.store.digest import digest_bytes
from exca.store.entries import encode_entry, key_digest, new_entry, seal
from exca.store.entry_table import EntryTable
from exca.store.packs import build_pack

VALUES = {"small": (1, "a"), "array": np.arange(50.0), "nested": {"x": np.ones(1000)}}


def _populate(root: Path) -> Store:
    store = Store(root)
    namespace = store.namespace("ns")
    for key, value in VALUES.items():
        namespace.put(key, value)
    namespace.pack()
    namespace.put("loose", [1, 2])
    return store


def _intact(root: Path) -> None:
    namespace = Store(root, read_only=True).namespace("ns")
    for key, value in VALUES.items():
        loaded = namespace.load(namespace.entry(key))  # type: ignore[arg-type]
        assert key_of(loaded if key != "array" else np.asarray(loaded)) == key_of(value)
    assert namespace.load(namespace.entry("loose")) == [1, 2]  # type: ignore[arg-type]


def _snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    if not root.exists():
        return {}
    return {
        str(path.relative_to(root)): (path.lstat().st_size, path.lstat().st_mtime_ns,
                                      path.lstat().st_ino)
        for path in [root, *root.rglob("*")]
    }  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = _populate(tmp_path / "store")
    before = _snapshot(store.folder)
    yield store
    assert _snapshot(store.folder) == before, "bad input changed the store"
    _intact(store.folder)


@pytest.mark.parametrize("key", [1, 2.5, b"key", ("a",), None])
def test_a_non_string_key_is_refused_naming_its_type_and_the_remedy(
    store: Store, key: object
) -> None:
    namespace = store.namespace("ns")
    cache = CacheDict(store.folder / "ns", root=store.folder)
    attempts = [
        lambda: namespace.put(key, 1), lambda: namespace.put_error(key, ValueError()),
        lambda: namespace.delete(key), lambda: namespace.entry(key),
        lambda: namespace.entries(["small", key]), lambda: cache.__setitem__(key, 1),
        lambda: cache[key], lambda: cache.__delitem__(key),
    ]  # fmt: skip
    for attempt in attempts:
        with pytest.raises(TypeError) as info:
            attempt()
        message = str(info.value)
        assert "store keys must be str" in message and type(key).__qualname__ in message
        assert "key_of(value)" in message
    assert key not in namespace and key not in cache  # membership just answers no


@pytest.mark.parametrize(
    "value, named",
    [
        (object(), "builtins.object"),
        (lambda: 1, "builtins.function"),
        ((i for i in range(3)), "builtins.generator"),
        ([1, {"a": object()}], "builtins.object"),
        ({1, frozenset([lambda: 1])}, "builtins.function"),
    ],
)
def test_key_of_refuses_an_unsupported_type_naming_it_and_the_supported_ones(
    value: object, named: str
) -> None:
    with pytest.raises(TypeError) as info:
        key_of(value)
    message = str(info.value)
    assert f"value of type {named}" in message
    assert "item_uid()" in message and "pydantic models, dataclasses" in message


UNSTORABLE = {"a lambda": lambda: 1, "a generator": (i for i in range(3))}
CODECS = [None, "msgpack", "npy", "zarr", "nested", "pickle", "parquet"]


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("what", sorted(UNSTORABLE))
def test_a_value_no_codec_accepts_is_refused_and_writes_nothing(
    store, what: str, codec: str | None
) -> None:
    value = UNSTORABLE[what]
    kind = type(value).__qualname__
    cache = CacheDict(store.folder / "ns", root=store.folder, cache_type=codec)
    for attempt in (
        lambda: store.namespace("ns").put("small", value, codec=codec),  # over an existing key
        lambda: cache.__setitem__("new", value),
        lambda: cache.__setitem__("new", [np.arange(5000.0), value]),  # after a large array
    ):
        with pytest.raises(CodecError) as info:
            attempt()
        message = str(info.value)
        assert isinstance(info.value, TypeError)
        assert f"codec '{codec or 'pickle'}'" in message  # what refused it (pickle: last resort)
        assert kind in message or "list" in message  # the type it got
        assert "cache_type=" in message or "register a codec" in message  # what to do


def test_a_refused_value_inside_write_loses_none_of_the_buffered_writes(tmp_path: Path) -> None:
    cache = CacheDict(tmp_path)
    with cache.write():
        cache["before"] = 1
        with pytest.raises(CodecError):
            cache["bad"] = lambda: 1
        cache["after"] = np.arange(3)
    fresh = CacheDict(tmp_path)
    assert sorted(fresh.keys()) == ["after", "before"] and fresh["before"] == 1


def test_a_refused_first_value_creates_no_store_folder(tmp_path: Path) -> None:
    with pytest.raises(CodecError):
        CacheDict(tmp_path / "new")["key"] = lambda: 1
    assert not (tmp_path / "new").exists()


def test_an_unknown_codec_name_fails_at_construction_listing_the_known_ones(store) -> None:
    folder = store.folder / "never"
    for attempt in (
        lambda: CacheDict(folder, cache_type="nope"),
        lambda: CacheDict(store.folder / "ns", root=store.folder, cache_type="nope"),
        lambda: store.namespace("ns").put("small", 1, codec="nope"),
    ):
        with pytest.raises(UnknownCodecError) as info:
            attempt()
        message = str(info.value)
        assert isinstance(info.value, KeyError)
        assert "unknown codec 'nope'" in message
        assert f"known codecs: {', '.join(codec_names())}" in message
        assert "register_codec" in message
    assert not folder.exists()


def test_an_entry_of_a_codec_this_process_does_not_know_reads_as_a_clear_error(
    tmp_path: Path,
) -> None:
    """A custom codec registered by the writer but not by the reader."""
    EntryTable(tmp_path / "ns").put(new_entry("k", "success", "custom-x", 1, Encoded(b"1")))
    namespace = Store(tmp_path).namespace("ns")
    with pytest.raises(UnknownCodecError, match="unknown codec 'custom-x'.*register_codec"):
        namespace.load(namespace.entry("k"))  # type: ignore[arg-type]


def test_a_folder_that_is_a_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "results.txt"
    path.write_text("precious")
    store = _populate(tmp_path / "store")
    (store.folder / "file").write_text("precious too")
    attempts = {
        path: [lambda: Store(path), lambda: CacheDict(path), lambda: Store(path, read_only=True)],
        store.folder / "file": [
            lambda: CacheDict(store.folder / "file", root=store.folder),
            lambda: store.namespace("file"),
        ],
        # paths that run through a file: the same error, naming the file
        path / "sub": [lambda: Store(path / "sub"), lambda: CacheDict(path / "sub" / "deeper")],
        store.folder / "file" / "sub": [
            lambda: store.namespace("file/sub"),
            lambda: CacheDict(store.folder / "file" / "sub", root=store.folder),
        ],
    }
    before = _snapshot(tmp_path)
    for where, calls in attempts.items():
        for attempt in calls:
            with pytest.raises(NotAStoreFolderError) as info:
                attempt()
            assert isinstance(info.value, NotADirectoryError)
            assert f"{where} is not a folder" in str(info.value) or (
                f"runs through the file {where.parent}" in str(info.value)
            )
            assert "choose another path or remove that file" in str(info.value)
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("version", ["2.0", "10.1"])
def test_a_store_of_a_newer_format_version_is_refused_and_left_untouched(
    tmp_path: Path, version: str
) -> None:
    store = _populate(tmp_path / "store")
    marker = store.folder / "exca-store.json"
    marker.write_text(json.dumps({"format": "exca-store", "version": version}))
    before = _snapshot(tmp_path)
    for attempt in (
        lambda: Store(store.folder),
        lambda: Store(store.folder, read_only=True),
        lambda: CacheDict(store.folder / "ns", root=store.folder),
        lambda: Store(tmp_path / "top", layers=[store.folder]),
    ):
        with pytest.raises(FormatVersionError) as info:
            attempt()
        message = str(info.value)
        assert isinstance(info.value, RuntimeError)
        assert f"store {store.folder} has format {version}" in message
        assert "this exca reads format 1.x" in message and "upgrade exca" in message
    assert _snapshot(tmp_path) == before


def test_a_damaged_format_marker_is_refused_and_a_newer_minor_version_is_read(
    tmp_path: Path,
) -> None:
    store = _populate(tmp_path)
    marker = tmp_path / "exca-store.json"
    marker.write_text("{not json")
    with pytest.raises(FormatVersionError, match=f"unreadable format marker {marker}.*restore it"):
        Store(tmp_path)
    marker.write_text(json.dumps({"format": "exca-store", "version": "1.9"}))
    _intact(store.folder)  # a minor version only adds what older readers may ignore


def _newer_entry(key: str, *, entry_format: int = 1, codec_version: int = 1) -> bytes:
    record = msgpack.unpackb(
        encode_entry(new_entry(key, "success", "msgpack", 1, Encoded(b"\x01")))
    )
    record[0], record[4] = entry_format, codec_version
    return msgpack.packb(record, use_bin_type=True)


def _newer_pack(key: str) -> bytes:
    data = bytearray(build_pack([(key_digest(key), _newer_entry(key))]))
    struct.pack_into("<I", data, 4, 2)  # the pack format field of the header
    return bytes(data)


def test_an_entry_written_by_a_newer_format_is_refused_and_never_destroyed(
    tmp_path: Path,
) -> None:
    store = _populate(tmp_path)
    folder = tmp_path / "ns"
    loose = folder / "entries" / key_digest("future").hex()
    loose.write_bytes(seal(_newer_entry("future", entry_format=2)))
    other = tmp_path / "other"
    (other / "packs").mkdir(parents=True)
    pack = _newer_pack("packed-future")
    (other / "packs" / f"pack-{digest_bytes(pack)}.pack").write_bytes(pack)
    before = _snapshot(tmp_path)
    refusals = {
        "entry format version 2": [
            lambda: store.namespace("ns").entry("future"),
            lambda: CacheDict(folder, root=tmp_path)["future"],
            lambda: list(store.namespace("ns").keys()),
            store.namespace("ns").pack,
            lambda: store.verify(fix=True),
            lambda: store.gc(grace_s=0),
        ],
        "pack format 2": [lambda: Store(tmp_path).namespace("other").entry("packed-future")],
    }
    for what, attempts in refusals.items():
        for attempt in attempts:
            with pytest.raises(FormatVersionError) as info:
                attempt()
            message = str(info.value)
            assert "upgrade exca" in message and str(tmp_path) in message, message
            assert (
                "has format version 2" if what.startswith("entry") else "has format 2"
            ) in message
    assert _snapshot(tmp_path) == before  # verify did not quarantine it, gc removed nothing
    _intact(tmp_path)


def test_a_value_written_by_a_newer_codec_version_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "ns" / "entries"
    folder.mkdir(parents=True)
    (folder / key_digest("k").hex()).write_bytes(seal(_newer_entry("k", codec_version=9)))
    namespace = Store(tmp_path).namespace("ns")
    with pytest.raises(FormatVersionError) as info:
        namespace.load(namespace.entry("k"))  # type: ignore[arg-type]
    message = str(info.value)
    assert "codec 'msgpack' version 9" in message and "reads versions 1 to 1" in message
    assert "upgrade exca to read it, or recompute the value" in message
