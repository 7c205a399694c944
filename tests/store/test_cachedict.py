"""Contract of ``CacheDict``: the dict-like view of a store folder users know from
exca 0.6.0 (write blocks, item access, membership, listing, deletion, RAM copies,
pickling as a fresh view), on top of the store."""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import numpy as np
import pytest

from exca.store import CacheDict, CorruptArtifactError, Store, UnknownCodecError
from exca.store.layout import object_path


def test_values_written_in_a_block_read_back_with_their_types(tmp_path: Path) -> None:
    cache = CacheDict(tmp_path)
    with cache.write():
        cache["array"] = np.arange(6, dtype=np.int16).reshape(2, 3)
        cache["pair"] = (1, "one")
        cache["set"] = {1, 2}
    fresh = CacheDict(tmp_path)
    assert fresh["pair"] == (1, "one") and fresh["set"] == {1, 2}
    array = fresh["array"]
    assert array.dtype == np.int16 and array.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert isinstance(array, np.memmap) and not array.flags.writeable


def test_single_writes_work_without_a_write_block(tmp_path: Path) -> None:
    CacheDict(tmp_path)["x"] = 1
    assert CacheDict(tmp_path)["x"] == 1


def test_membership_length_and_listings_agree(tmp_path: Path) -> None:
    cache = CacheDict(tmp_path)
    with cache.write():
        for index in range(5):
            cache[f"k{index}"] = index * 10
    assert len(cache) == 5 and "k3" in cache and "k9" not in cache and 3 not in cache
    assert sorted(cache.keys()) == sorted(cache) == [f"k{i}" for i in range(5)]
    assert dict(cache.items()) == {f"k{i}": i * 10 for i in range(5)}
    assert sorted(cache.values()) == [0, 10, 20, 30, 40]


def test_a_missing_key_raises_key_error_and_get_returns_the_default(tmp_path: Path) -> None:
    cache = CacheDict(tmp_path)
    with pytest.raises(KeyError, match="absent"):
        cache["absent"]
    assert cache.get("absent", "fallback") == "fallback"


def test_deleting_a_key_inside_or_outside_a_block_removes_it(tmp_path: Path) -> None:
    cache = CacheDict(tmp_path)
    with cache.write():
        cache["a"], cache["b"] = 1, 2
        del cache["a"]
    del cache["b"]
    assert len(CacheDict(tmp_path)) == 0
    with pytest.raises(KeyError):
        del cache["b"]


def test_overwriting_a_key_serves_the_new_value_everywhere(tmp_path: Path) -> None:
    cache = CacheDict(tmp_path)
    cache["k"] = "old"
    with cache.write():
        cache["k"] = "new"
    cache.namespace.pack()
    assert CacheDict(tmp_path)["k"] == "new" and len(CacheDict(tmp_path)) == 1


def test_keep_in_ram_serves_verified_arrays_from_memory(tmp_path: Path) -> None:
    CacheDict(tmp_path)["a"] = np.ones(4)
    cache = CacheDict(tmp_path, keep_in_ram=True)
    first = cache["a"]
    assert not isinstance(first, np.memmap) and first.sum() == 4.0
    assert cache["a"] is first  # kept for this object


def test_a_pickled_cache_dict_is_a_fresh_view_of_the_same_folder(tmp_path: Path) -> None:
    cache = CacheDict(tmp_path, keep_in_ram=True, cache_type="pickle")
    cache["k"] = [1, 2]
    clone = pickle.loads(pickle.dumps(cache))
    assert clone._ram == {} and clone.keep_in_ram and clone.cache_type == "pickle"
    assert clone["k"] == [1, 2]
    assert len(pickle.dumps(cache)) < 1000  # no RAM contents shipped


def test_cache_type_names_the_codec_of_every_value(tmp_path: Path) -> None:
    cache = CacheDict(tmp_path, cache_type="pickle")
    cache["k"] = {"a": 1}
    assert cache.namespace.entry("k").codec == "pickle"  # type: ignore[union-attr]
    with pytest.raises(UnknownCodecError, match="known codecs"):
        CacheDict(tmp_path, cache_type="NoSuchCodec")


def test_a_cache_dict_inside_a_store_root_shares_its_objects(tmp_path: Path) -> None:
    value = np.arange(1000.0)
    CacheDict(tmp_path / "a", root=tmp_path)["x"] = value
    CacheDict(tmp_path / "b", root=tmp_path)["y"] = value
    objects = [p for p in (tmp_path / "objects").rglob("*.npy")]
    assert len(objects) == 1  # one payload, stored once for both keys
    assert Store(tmp_path).verify().ok
    with pytest.raises(ValueError, match="not inside"):
        CacheDict(tmp_path / "a", root=tmp_path / "elsewhere")


def _filled(folder: Path, count: int) -> CacheDict:
    cache = CacheDict(folder)
    with cache.write():
        for index in range(count):
            cache[f"k{index}"] = {"index": index, "half": index / 2}
        cache["array"] = np.arange(1000, dtype=np.float32)
        cache["tuple"] = (1, "one")
    return CacheDict(folder)


@pytest.mark.parametrize("keep_in_ram", [False, True])
def test_get_many_gives_what_get_gives_in_order(tmp_path: Path, keep_in_ram: bool) -> None:
    _filled(tmp_path, 600)  # more keys than one block of values read together
    keys = ["k5", "absent", "array", *(f"k{i}" for i in range(599, -1, -1)), "tuple", "k5"]
    cache = CacheDict(tmp_path, keep_in_ram=keep_in_ram)
    values = cache.get_many(keys, default="none")
    expected = [CacheDict(tmp_path).get(key, "none") for key in keys]
    assert len(values) == len(expected) == 605
    assert values[1] == "none" and values[-2] == (1, "one")
    assert values[2].tolist() == expected[2].tolist()
    assert [v for i, v in enumerate(values) if i != 2] == [
        v for i, v in enumerate(expected) if i != 2
    ]
    if keep_in_ram:  # read values are kept: served from memory afterwards
        assert cache.get_many(["k7"]) == [{"index": 7, "half": 3.5}] and "k7" in cache._ram


def test_get_many_serves_values_written_through_the_same_view_and_no_cached_error(
    tmp_path: Path,
) -> None:
    cache = CacheDict(tmp_path, keep_in_ram=True)
    cache["kept"] = [1, 2]
    cache.namespace.put_error("failed", ValueError("it broke"))
    assert cache.get_many(["kept", "absent"]) == [[1, 2], None]
    assert cache.get_many(["kept", "failed"], default=0) == [[1, 2], 0]
    with pytest.raises(TypeError, match="str"):
        cache.get_many(["kept", 3])  # type: ignore[list-item]


def test_listing_values_in_blocks_names_the_key_of_a_damaged_value(tmp_path: Path) -> None:
    sound = _filled(tmp_path / "sound", 300)
    assert dict(sound.items())["k299"] == {"index": 299, "half": 149.5}
    assert len(list(sound.values())) == 302
    cache = _filled(tmp_path, 300)  # (damaged before this process maps it: see mapped.py)
    [ref] = cache.namespace.entry("array").objects  # type: ignore[union-attr]
    path = object_path(tmp_path, ref.digest, ref.suffix)
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(CorruptArtifactError) as caught:
        list(CacheDict(tmp_path).items())
    assert any("'array'" in note for note in caught.value.__notes__)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_published_objects_are_read_only_files_whose_mode_follows_the_umask(
    tmp_path: Path, umask: int
) -> None:
    previous = os.umask(umask)
    try:
        cache = CacheDict(tmp_path)
        cache["array"] = np.arange(300_000)  # preallocated, written in one call
        cache["small"] = np.arange(3)
        cache["pickled"] = [object.__name__] * 10_000
    finally:
        os.umask(previous)
    objects = [path for path in (tmp_path / "objects").glob("*/*") if path.is_file()]
    assert len(objects) == 3
    for path in objects:
        assert stat.S_IMODE(path.stat().st_mode) == 0o444 & ~umask, path
