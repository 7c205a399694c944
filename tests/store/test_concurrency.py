"""Many processes and threads on one store at once (DESIGN.md, guarantee 5).

Contract pinned: worker processes, each with writer, batch, reader, packer and deleter
threads, hammer the same and different keys of one store from a common start barrier;
afterwards there is exactly one object file per distinct payload written (identical
bytes written at once by every worker included), every reader saw only whole values
(each value checks itself), no entry is lost (every key holds a value one of its
writers wrote, the last one where a single thread wrote it in order), and deleted keys
stay deleted despite concurrent packing. Interleavings too rare to hit by chance are
forced deterministically with hooks on the real publish function.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
from collections import defaultdict
from pathlib import Path
from types import ModuleType

import pytest

from exca.store import CacheDict, Store
from exca.store import packing as packing_module
from exca.store.entries import key_digest
from exca.store.entry_table import MERGE_PACKS_OVER
from exca.store.layout import loose_entry_path

WORKER = Path(__file__).parent / "_children" / "concurrent_worker.py"


def _worker_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("concurrent_worker", WORKER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


worker = _worker_module()


def _flags(index: int) -> list[str]:
    return ["--packer"] * (index < 3) + ["--deleter"] * (index in (1, 2))


def _run_workers(root: Path, count: int, seconds: float) -> list[dict]:
    """Start ``count`` workers, release them together, and return their reports."""
    go = root.parent / "go"
    children = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(root), str(index), str(seconds), str(go)]
            + _flags(index),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(count)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            if child.stdout.readline().strip() != "ready":
                pytest.fail(f"worker did not start: {child.communicate(timeout=30)[1]}")
        go.touch()
        outputs = [child.communicate(timeout=60 + 5 * seconds) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    for child, (_, stderr) in zip(children, outputs, strict=True):
        assert child.returncode == 0, stderr
    return [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outputs]


def _object_files(root: Path) -> list[str]:
    base = root / "objects"
    return sorted(
        f"{fan}/{name}"
        for fan in os.listdir(base)
        if (base / fan).is_dir()
        for name in os.listdir(base / fan)
    )


def _writes_and_deletes(reports: list[dict]) -> tuple[dict[str, set[tuple[int, int]]], set[str]]:
    violations = [text for report in reports for text in report["violations"]]
    assert not violations, "\n".join(violations[:3])
    assert sum(r["reads"] for r in reports) > 0 and sum(r["packs"] for r in reports) > 0
    writes: dict[str, set[tuple[int, int]]] = defaultdict(set)
    for report in reports:
        for key, writer, version in report["writes"]:
            writes[key].add((writer, version))
    deleted = {key for report in reports for key in report["deleted"]}
    assert deleted, "the deleters deleted nothing"
    return writes, deleted


def _check_store_after_workers(root: Path, reports: list[dict]) -> None:
    writes, deleted = _writes_and_deletes(reports)
    cache = CacheDict(root, verify_reads="full")
    resurrected = sorted(key for key in deleted if key in cache)
    assert set(cache.keys()) - set(resurrected) == set(writes) - deleted  # nothing lost
    for key, versions in writes.items():
        if key in deleted:
            continue
        got = worker.check_value(key, cache[key])
        assert got in versions, f"{key!r} holds {got}, never written"
        if key.startswith(("own-", "batch-", "batcharr-")):  # one thread wrote it, in order
            assert got == max(versions), f"{key!r} lost its last write: {got}"

    payloads = {
        (key, *version) for key, versions in writes.items() for version in versions
        if worker.is_array_key(key)
    }  # fmt: skip
    assert len(payloads) > worker.SAME_KEYS + worker.SHARED_KEYS
    assert len(_object_files(root)) == len(payloads), "one object per distinct payload"
    report = Store(root).verify(grace_s=0)
    assert report.ok, str(report)
    assert not resurrected, f"{len(resurrected)} deleted keys came back: {resurrected[:3]}"


def test_processes_and_threads_writing_reading_packing_and_deleting_keep_the_store_exact(
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    _check_store_after_workers(root, _run_workers(root, count=4, seconds=2.0))


@pytest.mark.slow
def test_eight_processes_for_longer_keep_the_store_exact(tmp_path: Path) -> None:
    root = tmp_path / "store"
    _check_store_after_workers(root, _run_workers(root, count=8, seconds=8.0))


def test_threads_writing_the_same_bytes_at_once_publish_one_object(tmp_path: Path) -> None:
    value = worker.array_value("same-0", 0, 0)
    barrier = threading.Barrier(8)

    def put() -> None:
        cache = CacheDict(tmp_path)
        barrier.wait()
        for index in range(20):
            cache[f"k{index}"] = value

    threads = [threading.Thread(target=put) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(_object_files(tmp_path)) == 1
    assert worker.check_value("same-0", CacheDict(tmp_path)["k19"]) == (0, 0)


def test_merging_into_a_pack_identical_to_an_existing_one_keeps_every_entry(
    tmp_path: Path,
) -> None:
    """A batch created before another writer's records but published after them makes a
    pack whose records all lose to an existing pack: merging the two yields that pack's
    exact bytes (same name), which the merge must not then delete as an old pack."""
    late, other = CacheDict(tmp_path), CacheDict(tmp_path)
    with late.write():
        late["a"], late["b"] = "late", "late"
        other["a"], other["b"] = "on time", "on time"
        other.namespace.pack()
    other.namespace.pack()  # no loose records and two packs: a full merge
    fresh = CacheDict(tmp_path)
    assert (fresh.get("a"), fresh.get("b")) == ("on time", "on time")


@pytest.mark.parametrize("change", ["delete", "overwrite"])
def test_a_merge_keeps_a_packed_record_newer_than_the_loose_one_it_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """A merging packer reads the loose records, then lists the packs: a record deleted
    or rewritten, and packed by another packer, in between is newer than its loose read."""
    merger, other = CacheDict(tmp_path), CacheDict(tmp_path)
    for round_ in range(MERGE_PACKS_OVER):
        other[f"p{round_}"] = round_
        other.namespace.pack()
    merger["k"] = "old"
    real_listdir = os.listdir

    def list_after_another_packer(path: object = ".") -> list[str]:
        if Path(str(path)).name == "packs" and real_listdir is not os.listdir:
            monkeypatch.setattr(os, "listdir", real_listdir)
            if change == "delete":
                del other["k"]
            else:
                other["k"] = "new"
            other.namespace.pack()  # MERGE_PACKS_OVER packs: no merge, one pack more
        return real_listdir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "listdir", list_after_another_packer)
    merger.namespace.pack()  # read "old", then finds one pack too many: merges
    monkeypatch.undo()
    fresh = CacheDict(tmp_path)
    assert fresh.get("k") == (None if change == "delete" else "new")
    assert len(os.listdir(tmp_path / "packs")) == 1


def test_a_packer_that_read_a_record_before_its_delete_does_not_resurrect_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow, other = CacheDict(tmp_path), CacheDict(tmp_path)
    slow["k"], slow["kept"] = "value", 1
    real_publish = packing_module.publish_bytes

    def publish_after_others_delete_and_merge(path: Path, data: bytes, durable: bool) -> None:
        monkeypatch.setattr(packing_module, "publish_bytes", real_publish)
        other.namespace.pack()  # meanwhile, another process packs, deletes, packs, merges
        del other["k"]
        other.namespace.pack()
        other.namespace.pack()
        assert "k" not in CacheDict(tmp_path)
        real_publish(path, data, durable=durable)

    monkeypatch.setattr(packing_module, "publish_bytes", publish_after_others_delete_and_merge)
    slow.namespace.pack()  # read "k" before the delete; publishes it after the merge
    assert "k" not in CacheDict(tmp_path)


def test_a_put_from_another_thread_during_a_batch_is_published_when_it_returns(
    tmp_path: Path,
) -> None:
    cache = CacheDict(tmp_path)
    inside, finish = threading.Event(), threading.Event()

    def batch() -> None:
        with cache.write():
            cache["batched"] = 1
            inside.set()
            finish.wait(10)

    thread = threading.Thread(target=batch)
    thread.start()
    try:
        assert inside.wait(10)
        cache["direct"] = 2  # this thread is in no batch
        assert "direct" in CacheDict(tmp_path)  # what another process sees
    finally:
        finish.set()
        thread.join()


def test_a_packer_keeps_a_record_written_in_the_place_of_the_one_it_packed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A packer reads a loose record; before it claims the file, another packer packs
    and removes it, and a writer puts a newer record in its place. File systems reuse a
    freed inode at once (ext4 does) and stamp times with a coarse clock, so the newer
    file may carry the old one's inode and modification time: the packer must tell the
    two records apart by what they hold, not by their file's identity."""
    slow, other = CacheDict(tmp_path), CacheDict(tmp_path)
    slow["k"] = "old"
    path = loose_entry_path(tmp_path, key_digest("k").hex())
    old = os.stat(path)
    real_recover = packing_module._recover_stranded_claims

    def pack_and_rewrite_meanwhile(table: object, packs: object) -> None:
        monkeypatch.setattr(packing_module, "_recover_stranded_claims", real_recover)
        other.namespace.pack()  # packs "old" and removes its file: its inode is free
        other["k"] = "new"
        os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))  # a clock too coarse to differ
        real_recover(table, packs)  # type: ignore[arg-type]

    monkeypatch.setattr(packing_module, "_recover_stranded_claims", pack_and_rewrite_meanwhile)
    slow.namespace.pack()  # read "old"; claims the file after "new" took its place
    assert CacheDict(tmp_path)["k"] == "new"
