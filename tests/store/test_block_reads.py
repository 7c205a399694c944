"""Contract of block reads (``BlockReader``, ``Namespace.reader``): a kept map is
served without looking at its file while exca removed or replaced no object of its store,
and never once ``gc`` removed it, ``verify(fix=True)`` quarantined it or a writer replaced
it, in this process or another (the store's generation marker, ``generations.py``); a
block sees the store as it was when the block began. Single reads keep checking the file
(``test_open_reuse.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import typing as tp
from pathlib import Path

import numpy as np
import pytest

from exca.store import CorruptArtifactError, Entry, Store, generations
from exca.store.codecs.base import ObjectRef
from exca.store.layout import OBJECTS_DIR

pytestmark = pytest.mark.usefixtures("opened")  # (each test starts with no kept map)


def _stored(tmp_path: Path, fill: float = 1.0) -> tuple[Store, ObjectRef]:
    """A store holding one unreferenced 1 MiB array (gc removes it), read once in blocks."""
    store = Store(tmp_path)
    ref = store.objects.put_array(np.full(1 << 18, fill, dtype=np.float32))
    assert float(store.objects.as_of_now().open_array(ref)[0]) == fill
    return store, ref


def _in_child(code: str, *args: object) -> None:
    argv = [sys.executable, "-c", textwrap.dedent(code), *map(str, args)]
    subprocess.run(argv, check=True, capture_output=True, text=True, timeout=120)


def test_a_block_serves_a_kept_map_without_looking_at_its_file(tmp_path: Path) -> None:
    store, ref = _stored(tmp_path)
    path = store.objects.locate(ref)
    os.chmod(path, 0o644)
    os.unlink(path)  # by hand: no exca removal, so no block looks again
    array = store.objects.as_of_now().open_array(ref)
    assert isinstance(array, np.memmap) and not array.flags.writeable
    assert float(array[-1]) == 1.0  # (the bytes of its digest: the map outlives the name)
    with pytest.raises(CorruptArtifactError, match="missing"):  # a single read looks
        store.objects.open_array(ref)


def test_each_read_of_a_block_gets_its_own_view_of_the_kept_array(tmp_path: Path) -> None:
    store, ref = _stored(tmp_path)
    reader = store.objects.as_of_now()
    first, second = reader.open_array(ref), reader.open_array(ref)
    first.shape = (512, 512)  # reshaped in place: the kept array and other reads unchanged
    assert second.shape == (1 << 18,) and reader.open_array(ref).shape == (1 << 18,)


def test_an_object_removed_by_gc_is_found_missing_by_the_next_block(tmp_path: Path) -> None:
    store, ref = _stored(tmp_path)
    path = store.objects.locate(ref)
    assert store.gc(grace_s=0).removed == [path]
    with pytest.raises(CorruptArtifactError, match="missing"):
        store.objects.as_of_now().open_array(ref)


def test_a_block_begun_before_a_removal_is_served_as_the_store_was(tmp_path: Path) -> None:
    store, ref = _stored(tmp_path)
    reader = store.objects.as_of_now()
    store.gc(grace_s=0)
    assert float(reader.open_array(ref)[0]) == 1.0  # as a value decoded just before
    with pytest.raises(CorruptArtifactError, match="missing"):
        store.objects.as_of_now().open_array(ref)


def test_an_object_quarantined_by_verify_is_not_served_by_the_next_block(
    tmp_path: Path,
) -> None:
    store, ref = _stored(tmp_path)
    path = store.objects.locate(ref)
    os.chmod(path, 0o644)
    with open(path, "r+b") as handle:  # damaged in place: only a re-hash sees it
        handle.seek(ref.size - 1)
        handle.write(b"\x01")
    assert [p.path for p in store.verify(fix=True).problems] == [path]
    with pytest.raises(CorruptArtifactError, match="missing"):
        store.objects.as_of_now().open_array(ref)


def test_a_damaged_object_replaced_by_a_writer_is_opened_afresh_by_the_next_block(
    tmp_path: Path, opened: list[str]
) -> None:
    store, ref = _stored(tmp_path)
    path = store.objects.locate(ref)
    os.chmod(path, 0o644)
    with open(path, "r+b") as handle:
        handle.seek(ref.size - 1)
        handle.write(b"\x01")
    assert store.objects.put_array(np.full(1 << 18, 1.0, dtype=np.float32)) == ref
    opened.clear()
    array = store.objects.as_of_now().open_array(ref)
    assert opened == [str(path)] and float(array[-1]) == 1.0


@pytest.mark.parametrize("removal", ["gc", "verify"])
def test_a_removal_by_another_process_is_seen_by_the_next_block(
    tmp_path: Path, removal: str
) -> None:
    store, ref = _stored(tmp_path)
    path = store.objects.locate(ref)
    os.chmod(path, 0o644)
    with open(path, "r+b") as handle:  # (gc removes it as unreferenced, verify as damaged)
        handle.write(b"\x00")
    _in_child(
        """
        import sys
        from exca.store import Store
        store = Store(sys.argv[1])
        (store.gc(grace_s=0) if sys.argv[2] == "gc" else store.verify(fix=True))
        """,
        tmp_path,
        removal,
    )
    assert not path.exists()
    with pytest.raises(CorruptArtifactError, match="missing"):
        store.objects.as_of_now().open_array(ref)


def test_the_generation_changes_with_each_renewal_only(tmp_path: Path) -> None:
    objects = str(tmp_path / OBJECTS_DIR)
    os.makedirs(objects)
    before = generations.current(objects)
    assert generations.current(objects) == before  # no marker yet: the same until one
    _in_child("import sys; from exca.store import generations; generations.renew(sys.argv[1])",
              objects)  # fmt: skip
    renewed = generations.current(objects)
    assert renewed != before and generations.current(objects) == renewed
    generations.renew(objects)
    assert generations.current(objects) not in (before, renewed)


def test_a_store_watched_long_ago_gets_a_new_generation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(generations, "_MAX_WATCHED", 2)  # (markers held open: bounded)
    folders = [str(tmp_path / f"store{i}" / OBJECTS_DIR) for i in range(3)]
    for folder in folders:
        os.makedirs(folder)
        generations.renew(folder)
    first = generations.current(folders[0])
    generations.current(folders[1])
    generations.current(folders[2])  # folders[0]'s marker closed: as if it had changed
    assert generations.current(folders[0]) != first


def test_a_block_of_kept_arrays_is_served_together_and_only_then(tmp_path: Path) -> None:
    namespace = Store(tmp_path).namespace("ns")
    for i in range(4):
        namespace.put(f"a{i}", np.full(1000, float(i)))
    entries = [namespace.entry(f"a{i}") for i in range(4)]
    assert None not in entries
    found = tp.cast("list[Entry]", entries)
    assert namespace.load_kept(found, namespace.reader()) is None  # none opened yet
    namespace.load_many(found[:3])  # (a block read: opened and checked)
    assert namespace.load_kept(found[:3], namespace.reader(keep_in_ram=True)) is None
    assert namespace.load_kept(found, namespace.reader()) is None  # a3 never opened
    kept = namespace.load_kept(found[:3], namespace.reader())
    assert kept is not None and [float(array[0]) for array in kept] == [0.0, 1.0, 2.0]
