"""Claim records of a namespace (``exca.store.claims``): who computes which keys now.

Contract pinned: a claim takes only the keys no other claim holds, in one record per
claim; concurrent claimers in many processes never both get a key; the heartbeat
renames the record and a listing shows the new count; release removes it; evicting
takes away only a claim that has not beaten since it was listed; a damaged record or
a lock left by a dead claimer costs nothing worse than duplicate work; a lock broken
while its holder lives (and taken again) costs no error and never puts a record under
another claimer's name; a forked child
does not keep its parent's claims alive; a read-only store refuses to claim.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from exca.store import ReadOnlyStoreError, folder_lock
from exca.store.claims import ClaimTable
from exca.store.heartbeat import heartbeat
from exca.store.owner import current_owner


def test_a_claim_takes_only_the_keys_no_other_claim_holds(tmp_path: Path) -> None:
    table = ClaimTable(tmp_path)
    first = table.claim(["a", "b"])
    second = table.claim(["b", "c", "d"])
    assert first.keys == {"a", "b"} and not first.held
    assert second.keys == {"c", "d"}
    assert second.held["b"].token == first.token
    assert second.held["b"].owner == current_owner()
    assert sorted(os.listdir(tmp_path / "claims")) == sorted(
        [f"{first.token}.0", f"{second.token}.0"]
    )  # one record per claim, whatever its number of keys


def test_a_claim_of_many_keys_is_one_small_record(tmp_path: Path) -> None:
    table = ClaimTable(tmp_path)
    lease = table.claim([f"{i:032x}" for i in range(10_000)])
    assert os.listdir(tmp_path / "claims") == [f"{lease.token}.0"]
    assert len(table.claims()[lease.token].keys) == 10_000


def test_heartbeat_renames_the_record_and_release_removes_it(tmp_path: Path) -> None:
    table, other = ClaimTable(tmp_path), ClaimTable(tmp_path)  # (another reader)
    lease = table.claim(["a"])
    assert other.claims()[lease.token].beat == 0
    assert lease.beat() and lease.beat()
    assert other.claims()[lease.token].beat == 2
    lease.release()
    assert other.claims() == {}
    assert os.listdir(tmp_path / "claims") == []


def test_keys_held_by_the_callers_own_claims_count_as_free(tmp_path: Path) -> None:
    table = ClaimTable(tmp_path)
    outer = table.claim(["a", "b"])
    inner = table.claim(["a"], mine={outer.token})
    assert inner.keys == {"a"} and not inner.held


def test_eviction_removes_a_claim_only_if_it_did_not_beat_since_listed(
    tmp_path: Path,
) -> None:
    table = ClaimTable(tmp_path)
    lease = table.claim(["a"])
    listed = table.claims()[lease.token]
    lease.beat()  # alive after all: the eviction must not take it
    kept = table.claim(["a"], evict=[listed])
    assert not kept.keys and kept.held["a"].token == lease.token
    listed = table.claims()[lease.token]
    taken = table.claim(["a"], evict=[listed])
    assert taken.keys == {"a"}
    assert not lease.beat() and lease.lost  # the evicted owner learns it at its next beat


def test_a_damaged_record_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "claims").mkdir()
    (tmp_path / "claims" / ("ab" * 8 + ".3")).write_bytes(b"\xc1 not msgpack")
    with caplog.at_level(logging.WARNING, logger="exca.store.claims"):
        lease = ClaimTable(tmp_path).claim(["a"])
    assert lease.keys == {"a"}
    assert "unreadable claim record" in caplog.text


def test_a_lock_left_by_a_dead_claimer_is_broken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "claims").mkdir()
    (tmp_path / "claims" / "lock").write_bytes(b"")  # as left by a claimer killed inside it
    monkeypatch.setattr(folder_lock, "_LOCK_STALE_S", 0.3)
    lease = ClaimTable(tmp_path).claim(["a"])
    assert lease.keys == {"a"}
    assert sorted(os.listdir(tmp_path / "claims")) == [f"{lease.token}.0"]


def test_a_lock_broken_while_held_and_taken_again_costs_its_holder_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving pinned: a waiter decides a lock is stale; before it renames the
    lock away, that lock is released and a live holder takes the name; the waiter then
    renames the holder's lock away. The holder's claim must still be published, whole."""
    folder = tmp_path / "claims"
    folder.mkdir()
    (folder / "lock").write_bytes(b"")  # left by a claimer that died
    monkeypatch.setattr(folder_lock, "_LOCK_STALE_S", 0.05)
    holder_table, inside, proceed = ClaimTable(tmp_path), threading.Event(), threading.Event()
    listing, found = holder_table.claims, {}

    def slow_listing() -> dict:  # the holder pauses inside its lock
        inside.set()
        assert proceed.wait(30)
        return listing()

    def hold() -> None:
        try:
            found["holder"] = holder_table.claim(["h"])
        except Exception as error:  # noqa: BLE001 - the failure this test looks for
            found["error"] = error

    monkeypatch.setattr(holder_table, "claims", slow_listing)
    break_stale = folder_lock.FolderLock._break

    def late_break(lock: object, *args: object) -> None:
        monkeypatch.setattr(folder_lock.FolderLock, "_break", break_stale)  # (once)
        os.unlink(folder / "lock")  # released since the waiter's last look...
        holder = threading.Thread(target=hold)
        holder.start()
        assert inside.wait(30)  # ...and taken again by a live holder
        break_stale(lock, *args)
        proceed.set()
        holder.join(30)

    monkeypatch.setattr(folder_lock.FolderLock, "_break", late_break)
    breaker = ClaimTable(tmp_path).claim(["b"])
    assert "error" not in found, found
    holder = found["holder"]
    assert holder.keys == {"h"} and breaker.keys == {"b"}
    records = ClaimTable(tmp_path).claims()
    assert {token: claim.keys for token, claim in records.items()} == {
        holder.token: {"h"},
        breaker.token: {"b"},
    }
    assert sorted(os.listdir(folder)) == sorted([f"{holder.token}.0", f"{breaker.token}.0"])


_BREAKER = """
import json, os, sys, time
from exca.store import claims, folder_lock
folder, start = sys.argv[1], float(sys.argv[2])
folder_lock._LOCK_STALE_S = 0.0  # every waiter breaks the lock it finds: live holders lose theirs
table, errors, wrong = claims.ClaimTable(folder), [], 0
while time.time() < start:
    pass
for i in range(500):
    keys = [f"{os.getpid()}-{i}-{k}" for k in range(3)]
    try:
        lease = table.claim(keys)
    except Exception as error:
        errors.append(repr(error))
        continue
    try:
        with open(lease.path, "rb") as handle:
            owner, got = claims._decode(handle.read())
        wrong += got != frozenset(keys) or owner.pid != os.getpid()
    except FileNotFoundError:
        wrong += 1
    lease.release()
print(json.dumps({"errors": errors[:3], "wrong": wrong}))
"""


def test_a_lock_broken_while_its_holder_lives_costs_no_error_and_no_wrong_record(
    tmp_path: Path,
) -> None:
    start = time.time() + 1.5
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _BREAKER, str(tmp_path), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(4)
    ]
    reports = [json.loads(child.communicate(timeout=120)[0]) for child in children]
    assert reports == [{"errors": [], "wrong": 0}] * 4  # each claim file: its claimer's
    assert os.listdir(tmp_path / "claims") == []  # no lock, no temporary left behind


def test_a_read_only_table_refuses_to_claim(tmp_path: Path) -> None:
    with pytest.raises(ReadOnlyStoreError, match="claim items"):
        ClaimTable(tmp_path, read_only=True).claim(["a"])
    assert not (tmp_path / "claims").exists()


_CLAIMER = """
import json, sys, time
from exca.store.claims import ClaimTable
folder, start = sys.argv[1], float(sys.argv[2])
while time.time() < start:
    pass
lease = ClaimTable(folder).claim([str(k) for k in range(40)])
print(json.dumps(sorted(lease.keys)))
"""


def test_concurrent_claimers_in_many_processes_never_share_a_key(tmp_path: Path) -> None:
    start = time.time() + 1.5  # all children claim at the same moment
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIMER, str(tmp_path), str(start)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    got = [json.loads(child.communicate(timeout=60)[0]) for child in children]
    claimed = [key for keys in got for key in keys]
    assert sorted(claimed) == sorted(str(k) for k in range(40))  # each key exactly once


def test_a_forked_child_does_not_beat_its_parents_claims(tmp_path: Path) -> None:
    table = ClaimTable(tmp_path)
    lease = table.claim(["a"])
    beats = heartbeat(0.05)
    beats.keep(lease)
    try:
        pid = os.fork()
        if pid == 0:  # the child: its heartbeat is a new, empty one
            os._exit(0 if heartbeat(0.05) is not beats and not heartbeat(0.05)._leases else 1)
        assert os.waitpid(pid, 0)[1] == 0
        deadline = time.monotonic() + 30
        while table.claims()[lease.token].beat == 0:  # the parent's thread beats on
            assert time.monotonic() < deadline, "the heartbeat thread never beat"
            time.sleep(0.02)
    finally:
        beats.drop(lease)
        lease.release()


def test_a_claim_replacing_another_takes_its_keys_and_removes_it(tmp_path: Path) -> None:
    table = ClaimTable(tmp_path)
    driver = table.claim(["a", "b"])
    worker = table.claim(["a", "b"], replacing=[driver.token])  # as a worker adopting it
    assert worker.keys == {"a", "b"} and not worker.held
    assert list(table.claims()) == [worker.token]
    assert not driver.beat() and driver.lost
    driver.release()  # (the driver's release after its worker's: nothing left to remove)
    assert list(table.claims()) == [worker.token]


_TAKE_OVER = """
import sys
from exca.store.claims import ClaimTable
table = ClaimTable(sys.argv[1])
table.evict([], dead=list(table.claims().values()))  # its owner is gone
print(sorted(table.claim(["k"]).keys))
"""


def test_a_gone_owners_claim_that_cannot_be_removed_is_ignored_with_a_warning(
    unprivileged,
) -> None:
    """Another user's record in a sticky claims folder: taking over its keys costs
    (perhaps) duplicate work, never an error."""
    folder = Path(tempfile.mkdtemp(prefix="exca-claims-"))  # (reachable by uid 65534)
    try:
        folder.chmod(0o777)
        (folder / "claims").mkdir()
        (folder / "claims").chmod(0o1777)
        code = "import sys; from exca.store.claims import ClaimTable as T; T(sys.argv[1])"
        code += ".claim(['k'])"
        subprocess.run([sys.executable, "-c", code, str(folder)], check=True)  # then exits
        out = unprivileged.run(["-c", _TAKE_OVER, str(folder)], cwd=folder)
    finally:
        shutil.rmtree(folder)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["['k']"]
    assert "could not remove" in out.stderr
