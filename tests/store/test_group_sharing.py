"""Contract: a store folder shared by the users of one group (DESIGN guarantee 7, issue 9).

In a folder prepared for a group (its group, setgid and group-writable folders, as
``exca store share`` leaves it), two ordinary users with a group-friendly umask write
and read each other's results: new files follow the writer's umask and the folder's
group, objects are read-only once published, one user's objects are reused (stored
once) by the other's writes, and nobody changes the times, names or modes of another
user's objects. A writer that reuses an object it does not own protects it from ``gc``
with a pin of its own. The users are real: children that import exca as root and then
switch to two free uids sharing one gid (``_children/as_user.py``).
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHILDREN = Path(__file__).parent / "_children"
GROUP = 61000
ALICE, BOB = 61001, 61002


sys.path.insert(0, str(CHILDREN))  # children and tests share one module of operations
import sharing_ops as ops  # noqa: E402


def run_as(uid: int, *calls: list, umask: str = "002") -> list:
    """The results of ``calls`` (``[name, *args]`` of sharing_ops) run as ``uid``."""
    return ops.run_as(uid, GROUP, list(calls), umask)


@pytest.fixture
def team() -> Iterator[Path]:
    """A store folder prepared for GROUP, in a folder every user may traverse."""
    base = ops.traversable_folder("exca-group-")
    folder = base / "team"
    folder.mkdir()
    os.chown(folder, 0, GROUP)
    os.chmod(folder, 0o2775)
    yield folder
    shutil.rmtree(base)


def _objects(root: Path) -> dict[str, tuple[int, ...]]:
    """Every object file, with what touching it would change."""
    found = {}
    for path in sorted((root / "objects").rglob("*")):
        if path.is_file() and not path.name.startswith(".") and "incoming" not in path.parts:
            st = path.lstat()
            found[str(path.relative_to(root))] = (
                st.st_uid, st.st_mode, st.st_mtime_ns, st.st_ctime_ns, st.st_ino
            )  # fmt: skip
    return found


def test_two_users_of_one_group_write_and_read_each_others_results(team: Path) -> None:
    root = str(team)
    (written_a,) = run_as(ALICE, ["write", root, "a", "alice"])
    alices_objects = _objects(team)
    written_b, read_a, _ = run_as(
        BOB, ["write", root, "b", "bob"], ["read", root, "a"], ["pack", root, "a"]
    )
    read_b, read_a_again = run_as(ALICE, ["read", root, "b"], ["read", root, "a"])
    assert written_a == ops.expected_digests("alice") and written_b == ops.expected_digests("bob")
    assert read_a == read_a_again == {**written_a, "failed-alice": repr(ValueError("alice"))}
    assert read_b == {**written_b, "failed-bob": repr(ValueError("bob"))}
    after = _objects(team)
    assert {path: after[path] for path in alices_objects} == alices_objects  # untouched
    assert {owner for owner, *_ in after.values()} == {ALICE, BOB}
    pins = [p for p in (team / "objects").rglob(".pin.*")]
    assert len(pins) == 1 and pins[0].stat().st_uid == BOB  # Bob reused Alice's object


def test_every_file_follows_the_writers_umask_and_the_folders_group(team: Path) -> None:
    root = str(team)
    run_as(ALICE, ["write", root, "a", "alice"], ["pack", root, "a"])
    run_as(BOB, ["write", root, "a", "bob"], ["write", root, "b/deeper", "bob"])
    for path in [team, *team.rglob("*")]:
        st = path.lstat()
        assert st.st_gid == GROUP, path
        if stat.S_ISDIR(st.st_mode):
            assert st.st_mode & 0o2070 == 0o2070, (path, oct(st.st_mode))  # setgid, group rwx
        elif "objects" in path.relative_to(team).parts:
            assert st.st_mode & 0o222 == 0, (path, oct(st.st_mode))  # read-only once published
    assert {p.stat().st_uid for p in (team / "b").rglob("*")} == {BOB}


def test_a_group_member_with_a_private_umask_keeps_their_files_private(team: Path) -> None:
    (written,) = run_as(ALICE, ["write", str(team), "a", "alice"], umask="077")
    assert written == ops.expected_digests("alice")
    modes = {p.stat().st_mode & 0o077 for p in team.rglob("*") if p.is_file()}
    assert modes == {0}  # nobody chmods: the umask decides


def _age(path: Path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_gc_keeps_an_object_another_user_reuses_while_the_reusers_pin_is_young(team: Path) -> None:
    root = str(team)
    (digest,) = run_as(ALICE, ["put_shared_object", root])  # no entry refers to it
    (obj,) = [p for p in (team / "objects").rglob("*") if p.is_file()]
    assert digest.endswith(obj.name.removesuffix(".npy"))
    _age(obj, 7200)
    (reused, kept) = run_as(BOB, ["put_shared_object", root], ["gc", root, 3600])
    (pin,) = [p for p in obj.parent.iterdir() if p.name.startswith(".pin.")]
    assert reused == digest and pin.stat().st_uid == BOB and obj.stat().st_uid == ALICE
    assert kept == {"removed": [], "kept_young": 1}
    _age(pin, 7200)  # the write that reused it would have published its entry long ago
    (collected,) = run_as(ALICE, ["gc", root, 3600])
    relative = [str(p.relative_to(team)) for p in (obj, pin)]
    assert collected == {"removed": sorted(relative), "kept_young": 0}
    assert not obj.exists() and not pin.exists()


def test_gc_puts_back_an_object_whose_pin_appears_while_it_collects(
    team: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer may pin an object after gc listed its folder: gc's second look, after
    moving the object aside, sees the pin and puts the object back."""
    from exca.store import Store

    store = Store(team)
    ref = store.objects.put_array(ops.SHARED_PAYLOAD)
    obj = store.objects.locate(ref)
    _age(obj, 7200)
    listed = os.listdir
    calls: list[str] = []

    def listdir_then_a_writer_pins(path):  # the second listing of the fan-out folder
        calls.append(os.fspath(path))
        if len(calls) == 2:
            (obj.parent / f".pin.{obj.name}.otherhost.1.2.abcd1234").touch()
        return listed(path)

    monkeypatch.setattr(os, "listdir", listdir_then_a_writer_pins)  # the race, made certain
    report = store.gc(grace_s=3600)
    monkeypatch.undo()
    assert report.removed == [] and report.kept_young == 1 and obj.exists()
    assert store.objects.read_bytes(ref)[:6] == b"\x93NUMPY"


def test_a_member_reads_a_team_folder_they_cannot_write_through_read_folders(team: Path) -> None:
    """The Step API over the same files: the team's results are served from the team's
    folder, the missing one is computed into the member's own folder."""
    os.chmod(team, 0o755)  # the team folder: root's, read-only to everyone else
    (built,) = [ops.run_embed(str(team), [], [1.0, 2.0])]
    own = team.parent / "alices"
    own.mkdir()
    os.chown(own, ALICE, GROUP)
    before = _objects(team)
    (read,) = run_as(ALICE, ["run_embed", str(own), [str(team)], [1.0, 2.0, 3.0]])
    assert built["values"] == [1.0, 2.0]
    assert read == {"values": [1.0, 2.0, 3.0], "found_in": [str(team), str(team), str(own)]}
    assert _objects(team) == before
    assert {p.stat().st_uid for p in own.rglob("*")} == {ALICE}
