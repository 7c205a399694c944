"""Contract of reusing opened ``.npy`` objects within a process: a second read of a small
object opens no file, yet every single read still sees what a fresh open would (an object
deleted, quarantined, truncated or replaced is never served from a kept map; block reads:
``test_block_reads.py``); large objects keep no map, kept maps stay within their budget,
and a forked child starts with none of its parent's."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from exca.store import mapped
from exca.store.codecs.base import ObjectRef
from exca.store.errors import CorruptArtifactError
from exca.store.objects import ObjectStore

pytestmark = pytest.mark.usefixtures("opened")  # (each test starts with no kept map)


def _stored(tmp_path: Path, mib: float = 1, fill: float = 1.0) -> tuple[ObjectStore, ObjectRef]:
    store = ObjectStore(tmp_path)
    ref = store.put_array(np.full(int(mib * (1 << 18)), fill, dtype=np.float32))
    return store, ref


def _maps_of(folder: Path) -> int:
    with open("/proc/self/maps") as maps:
        return sum(str(folder) in line for line in maps)


def test_second_read_of_a_small_object_opens_no_file(tmp_path: Path, opened: list[str]) -> None:
    store, ref = _stored(tmp_path)
    first = store.open_array(ref)
    opened.clear()
    second = store.open_array(ref)
    assert opened == []
    assert isinstance(second, np.memmap) and not second.flags.writeable
    np.testing.assert_array_equal(first, second)


def test_reused_object_is_also_reused_by_another_store_instance(
    tmp_path: Path, opened: list[str]
) -> None:
    store, ref = _stored(tmp_path)
    store.open_array(ref)
    opened.clear()
    assert float(ObjectStore(tmp_path).open_array(ref)[0]) == 1.0
    assert opened == []


def test_object_deleted_after_a_read_is_found_missing(tmp_path: Path) -> None:
    store, ref = _stored(tmp_path)
    store.open_array(ref)
    os.unlink(store.locate(ref))
    with pytest.raises(CorruptArtifactError, match="missing"):
        store.open_array(ref)


def test_object_truncated_after_a_read_is_refused(tmp_path: Path) -> None:
    store, ref = _stored(tmp_path)
    kept = store.open_array(ref)
    del kept  # (a truncated file under a live map would fault on access)
    path = store.locate(ref)
    os.chmod(path, 0o600)
    os.truncate(path, ref.size - 4096)
    with pytest.raises(CorruptArtifactError, match="size is"):
        store.open_array(ref)


def test_object_replaced_after_a_read_is_opened_afresh(tmp_path: Path, opened: list[str]) -> None:
    store, ref = _stored(tmp_path)
    store.open_array(ref)
    path = store.locate(ref)
    replacement = path.with_name("replacement")
    replacement.write_bytes(path.read_bytes())
    os.replace(replacement, path)  # (a repaired copy: same bytes, another file)
    opened.clear()
    np.testing.assert_array_equal(store.open_array(ref), np.ones(1 << 18, dtype=np.float32))
    assert opened == [str(path)]


def test_fully_verified_reads_still_check_the_bytes_of_a_kept_map(tmp_path: Path) -> None:
    store, ref = _stored(tmp_path)
    checked = ObjectStore(tmp_path, verify_reads="full")
    checked.open_array(ref)
    path = store.locate(ref)
    os.chmod(path, 0o600)
    with open(path, "r+b") as handle:  # flipped in place: same file, same size
        handle.seek(ref.size - 1)
        handle.write(b"\x01")
    with pytest.raises(CorruptArtifactError, match="digest"):
        checked.open_array(ref)


def test_large_objects_keep_no_map_once_their_arrays_are_gone(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path)
    mib = mapped.REUSE_MAP_UP_TO / (1 << 20) + 1
    refs = [_stored(tmp_path, mib=mib, fill=float(i))[1] for i in range(3)]
    for i, ref in enumerate(refs):
        assert float(store.open_array(ref).max()) == float(i)
    assert _maps_of(tmp_path / "objects") == 0


def test_kept_maps_stay_within_their_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opened: list[str]
) -> None:
    monkeypatch.setattr(mapped, "KEPT_MAPS_BUDGET", (3 << 20) + 4096)  # 3 objects
    store = ObjectStore(tmp_path)
    refs = [_stored(tmp_path, fill=float(i))[1] for i in range(8)]
    for ref in refs:
        store.open_array(ref)
    assert _maps_of(tmp_path / "objects") == 3
    opened.clear()
    store.open_array(refs[-1])  # the most recent ones are kept
    assert opened == []


def test_forked_child_starts_without_its_parents_opened_objects(
    tmp_path: Path, opened: list[str]
) -> None:
    store, ref = _stored(tmp_path)
    store.open_array(ref)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report whether it reopened the file, then leave at once
        opened.clear()
        ok = float(store.open_array(ref)[0]) == 1.0 and opened != []
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)


def test_threads_reading_while_maps_are_dropped_all_see_their_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mapped, "KEPT_MAPS_BUDGET", (2 << 20) + 4096)  # 2 of 6 objects kept
    store = ObjectStore(tmp_path)
    refs = [_stored(tmp_path, fill=float(i))[1] for i in range(6)]
    wrong: list[int] = []

    def read(offset: int) -> None:
        for n in range(300):
            i = (n + offset) % len(refs)
            if float(store.open_array(refs[i])[-1]) != float(i):
                wrong.append(i)

    threads = [threading.Thread(target=read, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    assert _maps_of(tmp_path / "objects") <= 2 + len(threads)  # kept, and last reads' own
