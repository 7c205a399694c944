"""Contract: one damaged entry file never disables a folder. A zero-length or foreign file
among the loose entries (what a power loss can leave with ``durable=False``) or a damaged
pack record is a miss: ``len()``, ``keys()``, ``items()`` and ``get_many()`` skip it with
one warning, ``cd[key]`` raises ``CorruptArtifactError``; ``verify()`` reports each
problem and checks the rest, ``gc()`` works around what refers to nothing, and
``verify(fix=True)`` removes the damage."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest

from exca.store import CacheDict, CorruptArtifactError
from exca.store.entries import key_digest
from exca.store.layout import object_path

GOOD = {"a": 1, "c": [3], "d": "four"}


def _cache_with_damaged_loose_files(folder: Path) -> tuple[CacheDict, list[Path]]:
    cache = CacheDict(folder)
    with cache.write():  # a pack
        for key in ("c", "d"):
            cache[key] = GOOD[key]
    cache["a"] = 1  # loose
    cache["b"] = np.arange(5.0)  # loose, then cut to nothing as by a power loss
    cut = folder / "entries" / key_digest("b").hex()
    foreign = folder / "entries" / key_digest("never written").hex()
    os.truncate(cut, 0)
    foreign.write_bytes(b"<html>not an entry</html>")
    return CacheDict(folder), [cut, foreign]


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_listings_skip_a_zero_length_or_foreign_entry_file_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache, _ = _cache_with_damaged_loose_files(tmp_path)
    readings = {
        "len": lambda: len(cache),
        "keys": lambda: sorted(cache.keys()),
        "items": lambda: dict(cache.items()),
        "get_many": lambda: cache.get_many(["a", "b", "c", "d"]),
    }
    expected = {
        "len": 3, "keys": sorted(GOOD), "items": GOOD, "get_many": [1, None, [3], "four"]
    }  # fmt: skip
    with caplog.at_level(logging.WARNING):
        for name, read in readings.items():
            assert read() == expected[name], name
    warnings = _warnings(caplog)  # the same damage is told once per process
    assert len(warnings) == 2  # as listings meet it, and as get_many does
    assert all("damaged record" in w and "verify(fix=True)" in w for w in warnings)
    with pytest.raises(CorruptArtifactError, match="truncated or foreign"):
        cache["b"]
    assert "b" not in cache and cache.get("a") == 1


def test_verify_reports_each_damaged_file_and_still_checks_the_other_entries(
    tmp_path: Path,
) -> None:
    cache, damaged = _cache_with_damaged_loose_files(tmp_path)
    cache["arr"] = np.ones(3)
    [ref] = cache.namespace.entry("arr").objects  # type: ignore[union-attr]
    os.unlink(object_path(tmp_path, ref.digest, ref.suffix))  # checked despite the damage
    report = cache.store.verify()
    assert sorted((p.kind, p.path) for p in report.problems if p.path in damaged) == sorted(
        [("truncated", damaged[0]), ("truncated", damaged[1])]
    )
    assert any(p.kind == "missing" and "'arr'" in p.message for p in report.problems)


def test_gc_works_around_files_that_refer_to_nothing_and_fix_removes_them(
    tmp_path: Path,
) -> None:
    cache, damaged = _cache_with_damaged_loose_files(tmp_path)
    cache["gone"] = np.zeros(4)
    del cache["gone"]  # its object is now garbage
    report = cache.store.gc(grace_s=0)  # the cut record's array is garbage too
    assert len(report.removed) == 2 and {p.suffix for p in report.removed} == {".npy"}
    fixed = cache.store.verify(fix=True)
    assert set(damaged) <= set(fixed.fixed) and not any(p.exists() for p in damaged)
    assert cache.store.verify().ok and dict(CacheDict(tmp_path).items()) == GOOD


def test_a_damaged_pack_record_is_a_miss_for_listings_and_an_error_for_item_access(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = CacheDict(tmp_path)
    with cache.write():
        for index in range(10):
            cache[f"k{index}"] = index
    (pack,) = (tmp_path / "packs").iterdir()
    data = bytearray(pack.read_bytes())
    data[-2] ^= 0xFF  # in the record stored last
    pack.chmod(0o644)
    pack.write_bytes(bytes(data))
    fresh = CacheDict(tmp_path)
    keys = [f"k{index}" for index in range(10)]
    with caplog.at_level(logging.WARNING):
        values = fresh.get_many(keys, default="missing")
        listed = dict(fresh.items())
    assert values.count("missing") == 1 and len(listed) == len(fresh) == 9
    (damaged,) = [k for k, v in zip(keys, values, strict=True) if v == "missing"]
    assert listed == {k: int(k[1:]) for k in keys if k != damaged}
    assert 1 <= len(_warnings(caplog)) <= 2  # the same damage, told once per way it is met
    with pytest.raises(CorruptArtifactError, match="checksum"):
        fresh[damaged]
    fresh[damaged] = -1  # written again: the newer record is served
    assert CacheDict(tmp_path).get_many(keys)[keys.index(damaged)] == -1


def test_a_pack_whose_record_count_was_lowered_is_not_rebuilt_and_hides_no_key(
    tmp_path: Path,
) -> None:
    cache = CacheDict(tmp_path)
    with cache.write():
        for index in range(10):
            cache[f"k{index}"] = index
    (pack,) = (tmp_path / "packs").iterdir()
    data = bytearray(pack.read_bytes())
    data[8] -= 3  # the record count (u64 at offset 8): three rows no longer read
    pack.chmod(0o644)
    pack.write_bytes(bytes(data))
    found = CacheDict(tmp_path).namespace.find([f"k{index}" for index in range(10)])
    assert len(found) == 7 and len(found.damaged) == 3  # the unread rows: damaged, not absent
    assert all("may hold this key's record" in why for why in found.damaged.values())
    assert all(found[key].inline is not None for key in found)


def _newer_pack_over_an_older_record(folder: Path, how: str) -> CacheDict:
    """k="old" in one pack, k="new" in a newer one, then the newer pack damaged."""
    cache = CacheDict(folder)
    with cache.write():
        cache["k"], cache["a"] = "old", 1
    older = set((folder / "packs").iterdir())
    with cache.write():
        cache["k"], cache["b"] = "new", 2
    (newer,) = set((folder / "packs").iterdir()) - older
    data = bytearray(newer.read_bytes())
    if how == "flipped key byte":  # k's key digest in the index: the records stay whole
        row = next(r for r in range(2) if data[32 + 32 * r : 48 + 32 * r] == key_digest("k"))
        data[32 + 32 * row + 15] ^= 0x01
    else:  # the index cut after the header: no row of it can be read
        del data[40:]
    newer.chmod(0o644)
    newer.write_bytes(bytes(data))
    return CacheDict(folder)


def test_a_flipped_key_byte_in_a_newer_pack_serves_its_record_never_the_older_one(
    tmp_path: Path,
) -> None:
    _newer_pack_over_an_older_record(tmp_path, "flipped key byte")
    assert CacheDict(tmp_path)["k"] == "new"  # the index is rebuilt from the records
    assert CacheDict(tmp_path).get_many(["k", "a"]) == ["new", 1]
    assert dict(CacheDict(tmp_path).items()) == {"k": "new", "a": 1, "b": 2}


def test_a_truncated_newer_pack_makes_older_records_damaged_never_served(
    tmp_path: Path,
) -> None:
    _newer_pack_over_an_older_record(tmp_path, "truncated")
    with pytest.raises(CorruptArtifactError, match="newer record of key 'k'"):
        CacheDict(tmp_path)["k"]
    found = CacheDict(tmp_path).namespace.find(["k", "a"])
    assert len(found) == 0 and set(found.damaged) == {"k", "a"}  # either may be hidden
    assert CacheDict(tmp_path).get_many(["k"], default="missing") == ["missing"]
    assert "old" not in dict(CacheDict(tmp_path).items()).values()
    cache = CacheDict(tmp_path)
    cache["k"] = "again"  # written after the damage: provably the newest record
    assert CacheDict(tmp_path)["k"] == "again" and CacheDict(tmp_path).get_many(["k"]) == ["again"]
