"""Spares of a claims folder (``exca.store.claim_spares``): the files of released claims
that a process keeps to back its next ones, so that a claim creates no file.

Contract pinned: a process that claims again writes its claim into a spare (no file
created) and keeps no more spares than it needs; a process that claims once leaves
nothing; a reader that opened a released claim whose file was rewritten takes it as
released; a removed spare costs a created file only; spares of gone processes of this
host are removed when a process starts keeping spares, those of live ones are kept; a
process removes its spares at exit; gc removes old spares of other hosts and of gone
processes (not of live ones of its host), and a spare
removed as it is used costs a created file only; a forked child never takes its parent's spares;
claimers in many processes that claim again and again never hold one key together.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exca.store.claims import ClaimTable
from exca.store.layout import SPARE_PREFIX, local_spare_pid, spare_name


def _names(folder: Path) -> list[str]:
    return sorted(os.listdir(folder / "claims"))


def _spares(folder: Path) -> list[str]:
    return [name for name in _names(folder) if name.startswith(SPARE_PREFIX)]


def _claim_and_release(table: ClaimTable, times: int) -> None:
    for _ in range(times):
        table.claim(["warm"]).release()


def test_a_process_that_claims_again_writes_its_claim_into_a_spare(tmp_path: Path) -> None:
    table = ClaimTable(tmp_path)
    table.claim(["a"]).release()
    assert _names(tmp_path) == []  # a first release keeps nothing
    _claim_and_release(table, 5)
    (spare,) = _spares(tmp_path)  # one spare, however many claims since
    inode = os.stat(tmp_path / "claims" / spare).st_ino
    lease = table.claim(["a", "b"])
    assert _names(tmp_path) == [f"{lease.token}.0"]  # the spare became the claim
    assert os.stat(lease.path).st_ino == inode  # no file was created
    seen = ClaimTable(tmp_path).claims()  # (another reader)
    assert set(seen) == {lease.token} and seen[lease.token].keys == {"a", "b"}
    lease.release()
    (spare,) = _spares(tmp_path)
    assert os.stat(tmp_path / "claims" / spare).st_ino == inode and _names(tmp_path) == [spare]
    assert ClaimTable(tmp_path).claims() == {}


def test_a_reader_of_a_released_claim_whose_spare_was_rewritten_takes_it_as_released(
    tmp_path: Path,
) -> None:
    table = ClaimTable(tmp_path)
    _claim_and_release(table, 3)
    first = table.claim(["a"])
    first.release()
    second = table.claim(["b"])  # rewrites the first claim's file, kept as a spare
    # a reader that listed the first claim before its release, reading it now, reads
    # that file, which holds the second claim, under the first claim's name
    os.link(second.path, tmp_path / "claims" / f"{first.token}.0")
    seen = ClaimTable(tmp_path).claims()
    assert set(seen) == {second.token} and seen[second.token].keys == {"b"}
    assert ClaimTable(tmp_path).claim(["a"]).keys == {"a"}


def test_a_removed_spare_costs_a_created_file_only(tmp_path: Path) -> None:
    table = ClaimTable(tmp_path)
    _claim_and_release(table, 3)
    for name in _spares(tmp_path):
        os.unlink(tmp_path / "claims" / name)
    lease = table.claim(["a"])
    assert lease.keys == {"a"} and _names(tmp_path) == [f"{lease.token}.0"]
    lease.release()
    _claim_and_release(table, 2)  # and a spare is kept again
    assert len(_spares(tmp_path)) == 1


def test_spares_of_gone_processes_of_this_host_go_when_a_process_starts_keeping_spares(
    tmp_path: Path,
) -> None:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "claims").mkdir()
        names = {}
        for who, pid in (("dead", int(child.stdout)), ("live", live.pid)):
            name = spare_name().replace(f".{os.getpid()}.", f".{pid}.")
            assert local_spare_pid(name) == pid
            (tmp_path / "claims" / name).write_bytes(b"")
            names[who] = name
        other_host = f"{SPARE_PREFIX}another-host.{live.pid}.0123abcd"
        (tmp_path / "claims" / other_host).write_bytes(b"")
        table = ClaimTable(tmp_path)
        table.claim(["a"]).release()
        assert len(_names(tmp_path)) == 3  # a process that keeps no spare does not look
        table.claim(["a"]).release()
        (mine,) = [name for name in _spares(tmp_path) if local_spare_pid(name) == os.getpid()]
        assert _names(tmp_path) == sorted([mine, names["live"], other_host])
    finally:
        live.kill()
        live.wait()


_REPEATED_CLAIMER = """
import sys
from exca.store.claims import ClaimTable
table = ClaimTable(sys.argv[1])
for _ in range(5):
    table.claim(["k"]).release()
"""


def test_a_process_removes_its_spares_at_exit(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-c", _REPEATED_CLAIMER, str(tmp_path)], check=True)
    assert _names(tmp_path) == []


def test_a_forked_child_never_takes_its_parents_spare(tmp_path: Path) -> None:
    table = ClaimTable(tmp_path)
    _claim_and_release(table, 3)
    (spare,) = _spares(tmp_path)
    before = os.stat(tmp_path / "claims" / spare)
    pid = os.fork()
    if pid == 0:  # the child claims, and releases, through the table it inherited
        ok = True
        for _ in range(3):
            lease = table.claim(["child"])
            ok = ok and os.stat(lease.path).st_ino != before.st_ino
            lease.release()
        os._exit(0 if ok and _spares(tmp_path) == [spare] else 1)
    assert os.waitpid(pid, 0)[1] == 0
    assert _spares(tmp_path) == [spare]
    assert os.stat(tmp_path / "claims" / spare).st_mtime_ns == before.st_mtime_ns
    lease = table.claim(["parent"])  # the parent's spare is still its own
    assert os.stat(lease.path).st_ino == before.st_ino


_HOLDER = """
import os, sys, time
from exca.store.claims import ClaimTable
folder, held, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
table = ClaimTable(folder)
while time.time() < start:
    pass
got = 0
for _ in range(60):
    lease = table.claim([str(k) for k in range(4)])
    markers = [os.path.join(held, key) for key in sorted(lease.keys)]
    for marker in markers:  # fails if another process holds the key now
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    got += len(markers)
    for marker in markers:
        os.unlink(marker)
    lease.release()
print(got)
"""


def test_claimers_in_many_processes_claiming_again_and_again_never_hold_a_key_together(
    tmp_path: Path,
) -> None:
    held = tmp_path / "held"
    held.mkdir()
    start = time.time() + 1.5
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _HOLDER, str(tmp_path), str(held), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outs = [child.communicate(timeout=120) for child in children]
    assert all(child.returncode == 0 for child in children), [err for _, err in outs]
    assert sum(int(out) for out, _ in outs) > 0
    assert _names(tmp_path) == []  # every claim released, every spare removed at exit


def test_gc_removes_old_spares_of_other_hosts_and_of_gone_processes_not_of_live_ones(
    tmp_path: Path,
) -> None:
    from exca.store import Store

    table = ClaimTable(tmp_path / "step")
    _claim_and_release(table, 3)
    (mine,) = _spares(tmp_path / "step")
    claims = tmp_path / "step" / "claims"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead_here = spare_name().replace(f".{os.getpid()}.", f".{int(gone.stdout)}.")
    old, young = (f"{SPARE_PREFIX}another-host.{n}.0123abcd" for n in (41, 42))
    for name in (old, young, dead_here):  # (killed processes left them)
        (claims / name).write_bytes(b"")
    hours_ago = time.time() - 7200
    for name in (old, mine, dead_here):
        os.utime(claims / name, (hours_ago, hours_ago))
    report = Store(tmp_path).gc(grace_s=3600)
    assert sorted(p.name for p in report.removed) == sorted([old, dead_here])
    assert _spares(tmp_path / "step") == sorted([mine, young])
    assert Store(tmp_path).gc(grace_s=0).removed == [claims / young]  # mine: this process's
    os.unlink(claims / mine)  # (as gc may remove it, from another host)
    lease = table.claim(["a"])  # its spare gone, this process's next claim creates a file
    assert lease.keys == {"a"} and ClaimTable(tmp_path / "step").claims()[lease.token].keys == {"a"}
    lease.release()


def test_a_spare_removed_between_its_opening_and_its_use_costs_a_created_file_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exca.store import folder_lock

    table = ClaimTable(tmp_path)
    _claim_and_release(table, 3)
    (spare,) = _spares(tmp_path)
    take = folder_lock.FolderLock._take

    def removed_first(lock: folder_lock.FolderLock) -> None:  # (as gc may, at that moment)
        if lock.spare is not None:
            os.unlink(lock.spare)
        take(lock)

    monkeypatch.setattr(folder_lock.FolderLock, "_take", removed_first)
    lease = table.claim(["a", "b"])
    assert _names(tmp_path) == [f"{lease.token}.0"]
    assert ClaimTable(tmp_path).claims()[lease.token].keys == {"a", "b"}
    lease.release()
