"""Contract: a read-only store's error says what to do where it is raised: a ``CacheDict``
write, ``verify(fix=True)`` and ``gc()`` each get advice that applies there, and no
message names a writer's temporary file."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from exca.store import CacheDict, ReadOnlyStoreError, Store
from exca.store.publish import translate_write_errors


def _filled(folder: Path) -> None:
    cache = CacheDict(folder)
    cache["a"] = 1


@pytest.mark.parametrize(
    ("attempt", "advice"),
    [
        (lambda f: CacheDict(f, read_only=True).__setitem__("b", 2), "layers=[...]"),
        (lambda f: Store(f, read_only=True).verify(fix=True), "without fix=True"),
        (lambda f: Store(f, read_only=True).gc(), "gc(dry_run=True)"),
    ],
    ids=["cachedict-write", "verify-fix", "gc"],
)
def test_each_refused_write_gets_advice_that_applies_there(
    tmp_path: Path, attempt, advice: str
) -> None:
    _filled(tmp_path)
    with pytest.raises(ReadOnlyStoreError) as info:
        attempt(tmp_path)
    assert advice in str(info.value) and str(tmp_path) in str(info.value)


def test_a_refused_write_names_the_folder_not_the_writer_s_temporary_file(
    tmp_path: Path,
) -> None:
    temporary = tmp_path / "entries" / ".tmp.0123abcd.host.1.2.ff"
    with pytest.raises(ReadOnlyStoreError) as info:
        with translate_write_errors(tmp_path, "write an entry"):
            raise PermissionError(errno.EACCES, "Permission denied", str(temporary))
    assert ".tmp." not in str(info.value) and str(tmp_path / "entries") in str(info.value)
