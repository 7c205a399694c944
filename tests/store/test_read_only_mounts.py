"""Contract: a folder the user cannot write, or a read-only mount, is a read-only store
(DESIGN guarantee 3, issue 9).

Every read path writes nothing there (the tree, its modes, mtimes and file list are
unchanged afterwards), and every operation that must write raises
``ReadOnlyStoreError`` (a ``PermissionError``) naming the folder and the operation. Two
real cases: an ordinary user reads a cache that root built and then made read-only
with ``chmod -R a-w``; root (whom permissions do not stop) reads a read-only bind mount
of it (``EROFS``).
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from exca.store import mapped

CHILDREN = Path(__file__).parent / "_children"
NOBODY = 65534
sys.path.insert(0, str(CHILDREN))  # children and tests share one module of operations
import sharing_ops as ops  # noqa: E402


def _snapshot(root: Path) -> dict[str, tuple[int, ...]]:
    listing = {}
    for path in [root, *sorted(root.rglob("*"))]:
        st = os.lstat(path)
        listing[str(path.relative_to(root))] = (
            st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino
        )  # fmt: skip
    return listing


@pytest.fixture(scope="module")
def frozen() -> Iterator[tuple[Path, dict[str, str]]]:
    """A store root built, packed in part, then made read-only for everyone."""
    if os.geteuid() != 0:
        pytest.skip("needs root: to build a cache others read, and to mount")
    base = Path(tempfile.mkdtemp(prefix="exca-frozen-"))
    os.chmod(base, 0o755)
    root = base / "store"
    expected = {**ops.write(str(root), "loose", "one"), "failed-one": repr(ValueError("one"))}
    packed = {**ops.write(str(root), "packed", "two"), "failed-two": repr(ValueError("two"))}
    ops.pack(str(root), "packed")
    subprocess.run(["chmod", "-R", "a-w", str(root)], check=True)
    yield root, {"loose": expected, "packed": packed}  # type: ignore[misc]
    subprocess.run(["chmod", "-R", "u+w", str(base)], check=True)
    shutil.rmtree(base)


def _check_refusals(outcome: dict[str, list], root: Path, reason: str) -> None:
    for attempted, (kind, is_permission_error, message) in outcome.items():
        assert (kind, is_permission_error) == ("ReadOnlyStoreError", True), (attempted, message)
        assert str(root) in message and reason in message, (attempted, message)
        assert f"cannot {attempted.split(' (')[0]}" in message, (attempted, message)


def test_a_user_reads_a_cache_made_read_only_for_everyone_and_writes_nothing(frozen) -> None:
    root, expected = frozen
    before = _snapshot(root)
    calls = [["read", str(root), relpath] for relpath in expected]
    calls += [["attempt_writes", str(root), relpath, f"array-{tag}"]
              for relpath, tag in (("loose", "one"), ("packed", "two"))]  # fmt: skip
    read_loose, read_packed, *outcomes = ops.run_as(NOBODY, NOBODY, calls)
    assert [read_loose, read_packed] == list(expected.values())
    for outcome in outcomes:
        _check_refusals(outcome, root, "ermission")
    assert _snapshot(root) == before


@pytest.fixture
def mounted(frozen) -> Iterator[tuple[Path, Path, dict[str, str]]]:
    """A read-only bind mount of the frozen store, made writable underneath: only the
    mount refuses writes (root ignores permissions)."""
    root, expected = frozen
    mountpoint = Path(tempfile.mkdtemp(prefix="exca-ro-mount-"))
    subprocess.run(["chmod", "-R", "u+w", str(root)], check=True)
    bind = subprocess.run(["mount", "--bind", str(root), str(mountpoint)], capture_output=True)
    if bind.returncode:
        mountpoint.rmdir()
        pytest.skip(f"cannot bind-mount here: {bind.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(mountpoint)], check=True)
        yield root, mountpoint, expected
    finally:
        # this process keeps maps of the small objects it read (exca.store.mapped): drop
        # them, and the arrays using them, or the mount stays busy
        mapped.clear()
        gc.collect()
        subprocess.run(["umount", str(mountpoint)], check=True)
        mountpoint.rmdir()
        subprocess.run(["chmod", "-R", "a-w", str(root)], check=True)


def test_root_reads_a_read_only_bind_mount_and_every_write_is_refused(mounted) -> None:
    root, mountpoint, expected = mounted
    before = _snapshot(root)
    for relpath, values in expected.items():
        assert ops.read(str(mountpoint), relpath) == values
    for relpath, present in (("loose", "array-one"), ("packed", "array-two")):
        outcome = ops.attempt_writes(str(mountpoint), relpath, present)
        _check_refusals(outcome, mountpoint, "ead-only file system")
    from exca.store import Store

    store = Store(mountpoint)
    assert store.verify().ok and store.gc(dry_run=True, grace_s=0).removed == []
    for argv in (["info"], ["ls"], ["du"], ["verify"], ["gc", "--dry-run"]):
        status, out, err = ops.cli(["store", argv[0], str(mountpoint), *argv[1:], "--json"])
        assert (status, err) == (0, ""), (argv, err)
    status, out, err = ops.cli(["store", "gc", str(mountpoint), "--grace", "0s"])
    assert status == 2 and "read-only file system" in err and len(err.splitlines()) == 1
    assert _snapshot(root) == before and _snapshot(mountpoint) == before
