"""Contract of ``Store.verify`` and ``Store.gc`` (issue 2 point 8, DESIGN guarantees 1-2).

verify re-hashes every object and checks every entry: each flipped, truncated or deleted
object, corrupt loose entry or pack, and stray temporary older than the grace period is
reported with its ``.kind`` and ``.path``; ``fix=True`` moves or removes them so that a
second verify is clean. A damaged value is never returned by a read: it raises
``CorruptArtifactError`` (in-RAM loads are re-hashed, memory maps checked for size and
header, or re-hashed with ``verify_reads="full"`` / ``EXCA_VERIFY_READS=full``), and the
next put of the same value rewrites the bad object instead of trusting its name. gc
removes exactly the unreferenced objects and temporaries older than the grace period,
whatever namespace, pack or loose file refers to the rest, and reports what it freed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from exca.store import CacheDict, CorruptArtifactError, Namespace, Store
from exca.store.entries import key_digest
from exca.store.scan import path_size

HOUR = 3600.0


def _flip(path: Path, offset: int) -> None:
    """Flip every bit of one byte, keeping the file's size and inode."""
    os.chmod(path, 0o644)  # objects are published read-only
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path, size: int) -> None:
    os.chmod(path, 0o644)
    os.truncate(path, size)


def _age(path: Path, seconds: float = 2 * HOUR) -> Path:
    when = time.time() - seconds
    os.utime(path, (when, when))
    return path


def _store_with_array(root: Path, array: np.ndarray | None = None) -> tuple[Store, Path]:
    """A store holding one array under "key", by default unique to this test (a reader
    remembers the header of an object it opened once)."""
    store = Store(root)
    array = np.random.default_rng().random(100) if array is None else array
    entry = store.namespace("ns").put("key", array)
    return store, store.objects.locate(entry.objects[0])


def _problems(store: Store) -> set[tuple[str, Path]]:
    return {(problem.kind, problem.path) for problem in store.verify().problems}


def _fixed_then_clean(store: Store) -> None:
    report = store.verify(fix=True)
    assert report.problems and report.fixed
    assert store.verify().ok, str(store.verify())


def test_a_flipped_byte_in_an_npy_object_is_corrupt_and_never_loaded(
    tmp_path: Path, monkeypatch
) -> None:
    store, path = _store_with_array(tmp_path)
    _flip(path, -1)
    report = store.verify()
    assert [(p.kind, p.path) for p in report.problems] == [("corrupt", path)]
    assert f"expected {path.parent.name}{path.name.split('.')[0]}" in report.problems[0].message
    namespace = store.namespace("ns")
    for reader in (
        lambda: namespace.load(namespace.entry("key"), keep_in_ram=True),  # type: ignore[arg-type]
        lambda: CacheDict(tmp_path / "ns", keep_in_ram=True, root=tmp_path)["key"],
        lambda: Store(tmp_path, verify_reads="full").namespace("ns").load(namespace.entry("key")),  # type: ignore[arg-type]
    ):
        with pytest.raises(CorruptArtifactError, match="content digest") as info:
            reader()
        assert str(path) in str(info.value) and "verify(fix=True)" in str(info.value)
    monkeypatch.setenv("EXCA_VERIFY_READS", "full")  # (by default a map checks only the header)
    with pytest.raises(CorruptArtifactError):
        CacheDict(tmp_path / "ns", root=tmp_path)["key"]
    _fixed_then_clean(store)
    assert not path.exists() and len(list((tmp_path / "quarantine").iterdir())) == 1


def test_a_truncated_npy_object_is_reported_truncated_and_fails_a_memory_mapped_open(
    tmp_path: Path,
) -> None:
    store, path = _store_with_array(tmp_path)
    _truncate(path, path.stat().st_size - 8)
    assert _problems(store) == {("truncated", path)}
    namespace = store.namespace("ns")
    for keep_in_ram in (False, True):
        with pytest.raises(CorruptArtifactError, match="size is") as info:
            namespace.load(namespace.entry("key"), keep_in_ram=keep_in_ram)  # type: ignore[arg-type]
        assert str(path) in str(info.value)
    _fixed_then_clean(store)


def test_a_flipped_byte_in_an_npy_header_fails_a_memory_mapped_open(tmp_path: Path) -> None:
    store, path = _store_with_array(tmp_path)
    _flip(path, 1)  # the magic string
    assert [p.path for p in store.verify().problems] == [path]
    namespace = store.namespace("ns")
    with pytest.raises(CorruptArtifactError, match="header"):
        namespace.load(namespace.entry("key"))  # type: ignore[arg-type]


def test_a_flipped_byte_in_an_npy_header_is_reported_corrupt_not_truncated(
    tmp_path: Path,
) -> None:
    store, path = _store_with_array(tmp_path)
    _flip(path, 1)
    assert _problems(store) == {("corrupt", path)}


def test_a_deleted_object_leaves_an_entry_reported_missing_that_fails_to_read(
    tmp_path: Path,
) -> None:
    store, path = _store_with_array(tmp_path)
    os.unlink(path)
    namespace = store.namespace("ns")
    (problem,) = store.verify().problems
    assert (problem.kind, problem.path) == ("missing", namespace.folder)
    assert "'key'" in problem.message and path.name.split(".")[0] in problem.message
    with pytest.raises(CorruptArtifactError, match="missing"):
        namespace.load(namespace.entry("key"))  # type: ignore[arg-type]
    _fixed_then_clean(store)
    assert "key" not in namespace  # the entry is dropped: the next read recomputes


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_loose_entry_is_reported_quarantined_and_never_read(
    tmp_path: Path, damage: str
) -> None:
    store = Store(tmp_path)
    namespace = store.namespace("ns")
    namespace.put("key", {"a": 1})
    namespace.put("other", 2)
    path = namespace.folder / "entries" / key_digest("key").hex()
    _flip(path, -1) if damage == "flip" else _truncate(path, 5)
    kind = "corrupt" if damage == "flip" else "truncated"
    assert _problems(store) == {(kind, path)}
    with pytest.raises(CorruptArtifactError) as info:
        namespace.entry("key")
    assert str(path) in str(info.value)
    _fixed_then_clean(store)
    assert "key" not in namespace and namespace.load(namespace.entry("other")) == 2  # type: ignore[arg-type]


@pytest.mark.parametrize("where", ["index", "record"])
def test_a_corrupt_pack_is_reported_quarantined_and_never_serves_a_wrong_value(
    tmp_path: Path, where: str
) -> None:
    store = Store(tmp_path)
    namespace = store.namespace("ns")
    with namespace.batch():
        for i in range(5):
            namespace.put(f"key{i}", i)
    (path,) = (namespace.folder / "packs").iterdir()
    _flip(path, 40 if where == "index" else -1)  # a key in the index / the last record
    assert _problems(store) == {("corrupt", path)}
    fresh = Store(tmp_path).namespace("ns")
    if where == "record":  # a record is checked when read
        with pytest.raises(CorruptArtifactError) as info:
            [fresh.load(fresh.entry(f"key{i}")) for i in range(5)]  # type: ignore[arg-type]
        assert str(path) in str(info.value)
    else:  # readers rebuild the key column from the (whole) records: nothing lost
        bulk = fresh.find([f"key{i}" for i in range(5)])
        assert not bulk.damaged and sorted(bulk) == [f"key{i}" for i in range(5)]
        assert all(fresh.load(bulk[k]) == int(k[3:]) for k in bulk)
        assert all(fresh.load(fresh.entry(f"key{i}")) == i for i in range(5))  # type: ignore[arg-type]
    _fixed_then_clean(store)
    assert len(Store(tmp_path).namespace("ns")) == 0


def test_stray_temporaries_older_than_the_grace_period_are_reported_and_removed(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path)
    store.namespace("ns").put("key", np.arange(3.0))
    (tmp_path / "ns" / "packs").mkdir()
    files = [
        tmp_path / "objects" / ".tmp.incoming.host.1.2.dead",
        tmp_path / "ns" / "entries" / ".tmp.abc.host.1.2.dead",
        tmp_path / "ns" / "packs" / ".tmp.pack-x.pack.host.1.2.dead",
        tmp_path / "objects" / ".tmp.incoming.host.3.4.writing",
    ]
    for path in files:
        path.write_bytes(b"partial")
    folder = tmp_path / "objects" / ".tmp.incoming.host.5.6.zarr"  # a zarr object being built
    (folder / "c").mkdir(parents=True)
    *old, young = [*files[:3], folder, files[3]]
    for path in old:
        _age(path)
    assert _problems(store) == {("stray-temporary", path) for path in old}
    assert ("stray-temporary", young) in _problems_at(store, grace_s=0)
    _fixed_then_clean(store)
    assert young.exists() and not any(path.exists() for path in old)


def _problems_at(store: Store, grace_s: float) -> set[tuple[str, Path]]:
    return {(problem.kind, problem.path) for problem in store.verify(grace_s=grace_s).problems}


def test_fixing_many_problems_at_once_leaves_a_clean_store(tmp_path: Path) -> None:
    store = Store(tmp_path)
    namespace = store.namespace("a/b")
    entries = [namespace.put(f"k{i}", np.full(10, i)) for i in range(4)]
    namespace.pack()
    paths = [store.objects.locate(entry.objects[0]) for entry in entries]
    _flip(paths[0], -1)
    _truncate(paths[1], 70)
    os.unlink(paths[2])
    other = store.namespace("c")  # a damaged record hides the rest of its folder until fixed
    other.put("loose", "x")
    _flip(other.folder / "entries" / key_digest("loose").hex(), -1)
    stray = tmp_path / "objects" / ".tmp.incoming.crashed"
    stray.write_bytes(b"")
    _age(stray)
    assert sorted(kind for kind, _ in _problems(store)) == [
        "corrupt", "corrupt", "missing", "stray-temporary", "truncated"
    ]  # fmt: skip
    _fixed_then_clean(store)
    assert sorted(namespace.keys()) == ["k3"] and len(other) == 0


@pytest.mark.parametrize("codec", ["npy", "pickle", "zarr"])
def test_a_value_found_corrupt_on_read_is_rewritten_by_the_next_put_of_it(
    tmp_path: Path, codec: str
) -> None:
    """The trap of content addressing: the recomputed payload has the name of the bad one."""
    value = np.arange(20_000.0) if codec != "pickle" else list(range(30_000))  # an object
    store = Store(tmp_path)
    namespace = store.namespace("ns")
    entry = namespace.put("key", value, codec=codec)
    path = store.objects.locate(entry.objects[0])
    target = path / "c" / "0" if codec == "zarr" else path
    _flip(target, -1)
    with pytest.raises(CorruptArtifactError):
        namespace.load(namespace.entry("key"), keep_in_ram=True)  # type: ignore[arg-type]
    assert namespace.put("key", value, codec=codec).objects == entry.objects  # same name
    assert store.verify().ok
    loaded = namespace.load(namespace.entry("key"), keep_in_ram=True)  # type: ignore[arg-type]
    assert np.array_equal(loaded[...] if codec == "zarr" else loaded, value)


def test_a_corrupt_object_is_rewritten_by_a_put_of_the_same_value_in_another_process(
    tmp_path: Path,
) -> None:
    store, path = _store_with_array(tmp_path, np.arange(100.0) * 7.25)
    _flip(path, -1)
    assert _problems(store) == {("corrupt", path)}
    code = "import numpy as np, sys; from exca.store import Store; "
    code += "Store(sys.argv[1]).namespace('ns').put('key', np.arange(100.0) * 7.25)"
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    assert _problems(store) == set()


# ------------------------------------------------------------------------------- gc
def _gc_store(root: Path) -> tuple[Store, dict[str, Path]]:
    """Objects referenced from loose files, packs and several step-like namespaces, and
    garbage: replaced and deleted values (one a zarr folder), old and young temporaries."""
    store = Store(root)
    top = store.namespace("")  # a standalone CacheDict's own entries
    step = store.namespace("type=Mult,coeff=3-ab12/cache")
    other = store.namespace("type=Add,value=1-cd34/cache")
    paths: dict[str, Path] = {}

    def put(
        name: str, namespace: Namespace, key: str, value: object, codec: str | None = None
    ) -> None:
        entry = namespace.put(key, value, codec=codec)
        paths[name] = store.objects.locate(entry.objects[0])

    put("loose", top, "loose", np.arange(10.0))
    with step.batch():
        put("packed", step, "packed", np.arange(11.0))
        put("deleted after packing", step, "doomed", np.arange(12.0))
    put("other namespace", other, "kept", np.arange(13.0), codec="zarr")
    put("replaced", other, "replaced", np.arange(14.0))
    other.put("replaced", np.arange(15.0))
    put("deleted zarr", step, "deleted", np.arange(16.0), codec="zarr")
    step.delete("deleted")
    step.pack()
    step.delete("doomed")  # a loose tombstone over a packed record
    put("young", top, "young", np.arange(17.0))
    top.delete("young")
    for name in ("old temporary", "young temporary"):
        paths[name] = root / "type=Mult,coeff=3-ab12/cache/entries" / f".tmp.{name[:3]}.h.1.2"
        paths[name].write_bytes(b"partial")
    for path in store.objects.iter_paths():
        _age(path)
    _age(paths["old temporary"])
    os.utime(paths["young"])
    return store, paths


GARBAGE = ("deleted after packing", "replaced", "deleted zarr", "old temporary")


def test_gc_removes_exactly_old_unreferenced_objects_and_old_temporaries(tmp_path: Path) -> None:
    store, paths = _gc_store(tmp_path)
    sizes = {name: path_size(path) for name, path in paths.items()}
    report = store.gc(grace_s=HOUR)
    assert sorted(report.removed) == sorted(paths[name] for name in GARBAGE)
    assert report.freed_bytes == sum(sizes[name] for name in GARBAGE)
    assert report.kept_young == 1 and not report.dry_run
    assert {name for name, path in paths.items() if path.exists()} == set(paths) - set(GARBAGE)
    assert store.verify().ok
    step = Store(tmp_path).namespace("type=Mult,coeff=3-ab12/cache")
    assert np.array_equal(step.load(step.entry("packed")), np.arange(11.0))  # type: ignore[arg-type]
    assert store.gc(grace_s=HOUR).removed == []


def test_gc_dry_run_reports_what_it_would_remove_and_removes_nothing(tmp_path: Path) -> None:
    store, paths = _gc_store(tmp_path)
    listing = sorted(tmp_path.rglob("*"))
    dry = store.gc(dry_run=True, grace_s=HOUR)
    assert dry.dry_run and sorted(tmp_path.rglob("*")) == listing
    real = store.gc(grace_s=HOUR)
    assert (sorted(dry.removed), dry.freed_bytes) == (sorted(real.removed), real.freed_bytes)


def test_gc_with_no_grace_period_also_removes_young_garbage_but_nothing_referenced(
    tmp_path: Path,
) -> None:
    store, paths = _gc_store(tmp_path)
    removed = set(store.gc(grace_s=0).removed)
    assert removed == {paths[name] for name in (*GARBAGE, "young", "young temporary")}
    assert store.verify().ok


def test_gc_removes_nothing_while_an_entry_is_unreadable(tmp_path: Path) -> None:
    store, paths = _gc_store(tmp_path)
    _flip(tmp_path / "entries" / key_digest("loose").hex(), -1)
    listing = sorted(tmp_path.rglob("*"))
    with pytest.raises(CorruptArtifactError) as info:
        store.gc(grace_s=0)
    assert "gc stopped before removing anything" in "\n".join(info.value.__notes__)
    assert sorted(tmp_path.rglob("*")) == listing


def test_an_entry_whose_object_gc_removed_while_it_was_buffered_is_never_published(
    tmp_path: Path,
) -> None:
    ns = Store(tmp_path).namespace("ns")
    with pytest.raises(CorruptArtifactError, match="waited in a write buffer") as info:
        with ns.batch():
            gone = ns.put("gone", np.arange(1000))
            _age(ns.store.objects.locate(gone.objects[0]))  # a slow next item...
            assert len(Store(tmp_path).gc(grace_s=HOUR).removed) == 1  # ...and a gc meanwhile
            kept = ns.put("kept", np.arange(2000))
            _age(ns.store.objects.locate(kept.objects[0]))
    assert "'gone'" in str(info.value)
    reader = Store(tmp_path).namespace("ns")
    assert reader.entry("gone") is None  # a miss (recomputed), never a dangling entry
    assert np.array_equal(reader.load(reader.entry("kept")), np.arange(2000))  # type: ignore[arg-type]
    assert Store(tmp_path).verify().ok
