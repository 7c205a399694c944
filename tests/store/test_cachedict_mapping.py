"""Contract: ``CacheDict`` is a full ``MutableMapping`` whose parts agree, checked against
a plain dict as the oracle: ``len()``, iteration, the views, membership and item access
see the same keys (a cached error is no value: absent everywhere, ``cd[key]`` says why)."""

from __future__ import annotations

from collections.abc import ItemsView, KeysView, MutableMapping, ValuesView
from pathlib import Path

import pytest

from exca.store import CacheDict


def _pair(tmp_path: Path) -> tuple[CacheDict, dict[str, object]]:
    cache = CacheDict(tmp_path / "cd")
    oracle: dict[str, object] = {}
    for key, value in [("a", 1), ("b", [2, 3]), ("c", {"x": 4.5})]:
        cache[key] = oracle[key] = value
    return cache, oracle


def _same(cache: CacheDict, oracle: dict[str, object]) -> None:
    assert len(cache) == len(oracle) == len(list(cache)) == len(cache.keys())
    assert sorted(cache) == sorted(oracle) and set(cache.keys()) == set(oracle.keys())
    assert dict(cache.items()) == oracle and len(cache.items()) == len(oracle)
    assert sorted(map(repr, cache.values())) == sorted(map(repr, oracle.values()))
    assert dict(CacheDict(cache.folder)) == oracle  # what another view sees


def test_a_cache_dict_is_a_mutable_mapping_with_dict_views(tmp_path: Path) -> None:
    cache, oracle = _pair(tmp_path)
    assert isinstance(cache, MutableMapping)
    assert isinstance(cache.keys(), KeysView) and isinstance(cache.items(), ItemsView)
    assert isinstance(cache.values(), ValuesView)
    assert "a" in cache.keys() and ("a", 1) in cache.items() and 1 in cache.values()
    _same(cache, oracle)


def test_pop_setdefault_update_popitem_and_clear_act_as_on_a_dict(tmp_path: Path) -> None:
    cache, oracle = _pair(tmp_path)
    assert cache.pop("a") == oracle.pop("a")
    assert cache.pop("a", "gone") == oracle.pop("a", "gone") == "gone"
    with pytest.raises(KeyError):
        cache.pop("a")
    assert cache.setdefault("d", 7) == oracle.setdefault("d", 7) == 7
    assert cache.setdefault("d", 8) == oracle.setdefault("d", 8) == 7
    cache.update({"e": 5}, f=6)
    oracle.update({"e": 5}, f=6)
    cache.update([("g", 9)])
    oracle.update([("g", 9)])
    _same(cache, oracle)
    key, value = cache.popitem()
    assert oracle.pop(key) == value
    _same(cache, oracle)
    cache.clear()
    assert len(cache) == 0 and list(cache.items()) == [] and not CacheDict(cache.folder)


def test_a_cached_error_is_absent_from_every_part_and_its_access_says_why(
    tmp_path: Path,
) -> None:
    cache, oracle = _pair(tmp_path)
    cache.namespace.put_error("failed", ValueError("it broke"))
    _same(cache, oracle)
    assert "failed" not in cache and cache.get("failed") is None
    with pytest.raises(KeyError, match="computation failed") as info:
        cache["failed"]
    assert isinstance(info.value.__cause__, ValueError)
    cache.clear()  # errors included
    assert list(cache.namespace.keys()) == []
