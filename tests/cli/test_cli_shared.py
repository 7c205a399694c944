"""Contract: ``exca store`` on folders other users share (issue 9): an ordinary user runs
every read subcommand on a cache they cannot write and nothing changes on disk, while
what must write fails with one line; ``exca store share`` prepares a folder for a group
(its group, setgid group-writable folders, group-readable files, objects still
read-only), after which the group's members write there, and refuses a user who may
not do it without changing anything. The users are real (children that import exca
as root, then switch uid: ``tests/store/_children/as_user.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

CHILDREN = Path(__file__).parents[1] / "store" / "_children"
NOBODY, GROUP, ALICE = 65534, 61000, 61001
sys.path.insert(0, str(CHILDREN))  # children and tests share one module of operations
import sharing_ops as ops  # noqa: E402


def _snapshot(root: Path) -> dict[str, tuple[int, ...]]:
    return {str(p): (p.lstat().st_mode, p.lstat().st_gid, p.lstat().st_mtime_ns, p.lstat().st_ino)
            for p in [root, *sorted(root.rglob("*"))]}  # fmt: skip


def _ageless(out: str) -> object:
    document = json.loads(out)
    if isinstance(document, list):
        return [{k: v for k, v in row.items() if k != "age_s"} for row in document]
    return document


@pytest.fixture
def built() -> Iterator[Path]:
    """A store built by root with a private umask's modes (0755 folders, 0644 files)."""
    base = ops.traversable_folder("exca-cli-shared-")
    root = base / "store"
    previous = os.umask(0o022)
    try:
        ops.write(str(root), "type=A-1/cache", "one")
        ops.write(str(root), "features", "two")
    finally:
        os.umask(previous)
    yield root
    shutil.rmtree(base)


def test_an_ordinary_user_runs_every_read_subcommand_on_a_cache_they_cannot_write(built) -> None:
    before = _snapshot(built)
    reads = [["store", "info", str(built)], ["store", "ls", str(built)],
             ["store", "ls", str(built), "type=A-1"], ["store", "du", str(built)],
             ["store", "verify", str(built)], ["store", "gc", str(built), "--dry-run"]]  # fmt: skip
    calls = [["cli", [*argv, "--json"]] for argv in reads] + [["cli", argv] for argv in reads]
    calls.append(["cli", ["store", "gc", str(built), "--grace", "0s"]])
    *results, refused = ops.run_as(NOBODY, NOBODY, calls)
    for argv, (status, _out, err) in zip(calls, results, strict=False):
        assert (status, err) == (0, ""), (argv, err)
    as_root = [ops.cli([*argv, "--json"]) for argv in reads]
    assert [_ageless(out) for _, out, _ in results[: len(reads)]] == [
        _ageless(out) for _, out, _ in as_root
    ]
    status, out, err = refused
    assert status == 2 and out == "" and len(err.splitlines()) == 1
    assert f"cannot collect garbage in store {built}" in err and "Traceback" not in err
    assert _snapshot(built) == before


def _exca_share(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "exca", "store", "share", *args],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_share_prepares_a_folder_for_a_group_whose_members_then_write_there(built) -> None:
    result = _exca_share(str(built), "--group", str(GROUP))
    assert result.returncode == 0, result.stderr
    assert f"{built}: group root -> {GROUP}" in result.stdout
    assert f"{built}: mode 0o755 -> 0o2775" in result.stdout
    for path in [built, *built.rglob("*")]:
        st = path.lstat()
        assert st.st_gid == GROUP, path
        if stat.S_ISDIR(st.st_mode):
            assert stat.S_IMODE(st.st_mode) == 0o2775, path
        else:
            assert st.st_mode & 0o040, path
            if "objects" in path.parts:
                assert st.st_mode & 0o222 == 0, path  # objects stay read-only
    again = _exca_share(str(built), "--group", str(GROUP), "--json")
    assert json.loads(again.stdout) == {"folder": str(built), "gid": GROUP, "changed": []}
    written, read = ops.run_as(ALICE, GROUP, [["write", str(built), "features", "alice"],
                                              ["read", str(built), "type=A-1/cache"]])  # fmt: skip
    assert written == ops.expected_digests("alice")
    assert read == {**ops.expected_digests("one"), "failed-one": repr(ValueError("one"))}


def test_share_refuses_a_user_who_may_not_and_changes_nothing(built) -> None:
    before = _snapshot(built)
    foreign, not_member = ops.run_as(ALICE, GROUP, [
        ["cli", ["store", "share", str(built), "--group", str(GROUP)]],
        ["cli", ["store", "share", str(built), "--group", "0"]],
    ])  # fmt: skip
    assert foreign[0] == 2 and "paths to change belong to other users" in foreign[2]
    assert not_member[0] == 2 and f"uid {ALICE} is not a member of group root" in not_member[2]
    for _status, out, err in (foreign, not_member):
        assert out == "" and len(err.splitlines()) == 1 and "nothing was changed" in err
    assert _snapshot(built) == before
