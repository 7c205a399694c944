"""Contract: the ``exca store`` command (issue 9): what each subcommand prints, as a
table and as the JSON documents the docs list, its exit statuses (0 ok, 1 while
``verify`` finds problems, 2 with one line and no traceback for bad arguments, a
missing folder or a folder that is no store), and that ``exca --help`` loads neither
numpy nor zarr. Every case runs the real command in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from exca.steps import Step
from exca.store import CacheDict, Store

STEP = "type=Mult,coeff=3-ab12"
SHARED = np.arange(4096.0)  # stored once, referred to from both step folders


def exca(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "exca", *args], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip


def exca_json(*args: str) -> object:
    result = exca(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def build(root: Path) -> Store:
    store = Store(root)
    steps = store.namespace(f"{STEP}/cache")
    steps.put("a", SHARED)
    steps.put("b", {"x": 1})
    steps.put_error("c", ValueError("boom"))
    store.write_text(f"{STEP}/config.json", json.dumps({"steps": [{"type": "Mult", "coeff": 3}]}))
    features = CacheDict(root / "features", root=root)
    features["shared"] = SHARED
    features["own"] = np.arange(100, dtype=np.int8)
    return store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return build(tmp_path / "store")


def test_info_counts_step_folders_entries_objects_bytes_and_dedup(store: Store) -> None:
    info = exca_json("store", "info", str(store.folder))
    on_disk = sum(p.stat().st_size for p in store.folder.rglob("*") if p.is_file())
    shared, own = SHARED.nbytes + 128, 100 + 128
    assert info == {
        "format_version": "1.0", "step_folders": 2, "entries": 5, "objects": 2,
        "bytes": on_disk, "dedup_ratio": round((2 * shared + own) / (shared + own), 4),
    }  # fmt: skip
    table = exca("store", "info", str(store.folder)).stdout
    assert "dedup ratio" in table and "step folders    2" in table


def test_ls_lists_step_folders_with_their_config_and_then_one_folders_entries(
    store: Store,
) -> None:
    folders = exca_json("store", "ls", str(store.folder))
    assert [(f["step_folder"], f["config"], f["entries"], f["errors"]) for f in folders] == [
        ("features", None, 2, 0), (STEP, {"type": "Mult", "coeff": 3}, 2, 1),
    ]  # fmt: skip
    entries = exca_json("store", "ls", str(store.folder), STEP)
    assert [(e["key"], e["status"], e["codec"]) for e in entries] == [
        ("a", "success", "npy"), ("b", "success", "msgpack"), ("c", "error", "pickle"),
    ]  # fmt: skip
    assert entries[0]["bytes"] == SHARED.nbytes + 128 and 0 <= entries[0]["age_s"] < 3600
    assert set(entries[0]) == {"key", "status", "codec", "bytes", "age_s"}
    table = exca("store", "ls", str(store.folder)).stdout.splitlines()
    assert table[0].split() == ["step", "folder", "entries", "errors", "size"]
    assert table[2].split()[:3] == [STEP, "2", "1"]


def test_du_counts_shared_objects_apart_and_once_in_the_total(store: Store) -> None:
    usage = exca_json("store", "du", str(store.folder))
    shared, own = SHARED.nbytes + 128, 100 + 128
    folders = {u["step_folder"]: u for u in usage["step_folders"]}  # type: ignore[index]
    assert folders["features"]["shared_bytes"] == folders[STEP]["shared_bytes"] == shared
    records = {name: sum(p.stat().st_size for p in (store.folder / sub).rglob("*") if p.is_file())
               for name, sub in (("features", "features"), (STEP, f"{STEP}/cache"))}  # fmt: skip
    assert folders["features"]["bytes"] == records["features"] + own
    assert folders[STEP]["bytes"] == records[STEP]
    assert usage["total"] == records["features"] + records[STEP] + own + shared  # type: ignore[index]


def _damage_an_object(store: Store) -> Path:
    (path,) = [p for p in (store.folder / "objects").rglob("*.npy") if p.stat().st_size < 1000]
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes()[:-1] + b"\x01")
    return path


def test_verify_exits_1_while_problems_remain_and_0_once_fixed(store: Store) -> None:
    clean = exca("store", "verify", str(store.folder))
    assert clean.returncode == 0 and "ok" in clean.stdout
    damaged = _damage_an_object(store)
    found = exca("store", "verify", str(store.folder), "--json")
    document = json.loads(found.stdout)
    assert found.returncode == 1 and document["ok"] is False
    assert [(p["path"], p["kind"]) for p in document["problems"]] == [(str(damaged), "corrupt")]
    assert set(document["problems"][0]) == {"path", "kind", "message"}
    fixed = exca("store", "verify", str(store.folder), "--fix")
    assert fixed.returncode == 0 and "0 problems remain" in fixed.stdout, fixed.stdout
    assert exca("store", "verify", str(store.folder)).returncode == 0


def test_gc_says_what_it_would_remove_then_removes_it(store: Store) -> None:
    namespace = store.namespace("features")
    namespace.delete("own")
    (orphan,) = [p for p in (store.folder / "objects").rglob("*.npy") if p.stat().st_size < 1000]
    old = time.time() - 7200
    os.utime(orphan, (old, old))
    dry = exca_json("store", "gc", str(store.folder), "--dry-run")
    assert dry == {"removed": [str(orphan)], "freed_bytes": 228, "dry_run": True}
    assert orphan.exists()
    kept = exca_json("store", "gc", str(store.folder), "--grace", "3h")
    assert kept == {"removed": [], "freed_bytes": 0, "dry_run": False} and orphan.exists()
    text = exca("store", "gc", str(store.folder), "--grace", "1h30m")
    assert text.returncode == 0 and f"removed {orphan}" in text.stdout and "228 B" in text.stdout
    assert not orphan.exists()


@pytest.mark.parametrize(
    "args, says",
    [
        (["store", "info", "{missing}"], "no such folder"),
        (["store", "ls", "{plain}"], "is not an exca store"),
        (["store", "ls", "{store}", "no-such-step"], "holds no entries"),
        (["store", "gc", "{store}", "--grace", "soon"], "invalid duration 'soon'"),
        (["store", "frobnicate", "{store}"], "invalid choice: 'frobnicate'"),
        (["store"], "required: COMMAND"),
        ([], "required: store"),
        (["store", "share", "{store}", "--group", "no-such-group-here"], "no group named"),
    ],
)
def test_bad_input_gives_one_line_and_exit_status_2(
    store: Store, tmp_path: Path, args: list[str], says: str
) -> None:
    (tmp_path / "plain").mkdir()
    names = {"missing": tmp_path / "missing", "plain": tmp_path / "plain", "store": store.folder}
    result = exca(*(arg.format(**names) for arg in args))
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_the_console_script_runs_the_same_command(store: Store) -> None:
    script = Path(sys.executable).parent / "exca"
    result = subprocess.run([str(script), "store", "info", str(store.folder), "--json"],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0 and json.loads(result.stdout)["entries"] == 5


def test_help_loads_neither_numpy_nor_zarr_and_steps_do_not_load_the_command() -> None:
    check = ("import sys, runpy; sys.argv = ['exca', '--help']\n"
             "try:\n    runpy.run_module('exca', run_name='__main__')\n"
             "except SystemExit as done:\n    assert done.code == 0\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'zarr')))")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.splitlines()[-1] == "[]", result.stderr
    steps = "import sys, exca.steps; print([m for m in sys.modules if m.startswith('exca.cli')])"
    result = subprocess.run([sys.executable, "-c", steps], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


def test_a_walk_shows_progress_on_a_terminal_and_none_when_piped(store: Store) -> None:
    import pty

    env = {**os.environ, "EXCA_PROGRESS_AFTER_S": "0"}
    leader, follower = pty.openpty()
    with os.fdopen(leader, "rb", buffering=0) as terminal:
        result = subprocess.run([sys.executable, "-m", "exca", "store", "du", str(store.folder)],
                                stdout=subprocess.PIPE, stderr=follower, env=env, timeout=120)  # fmt: skip
        os.close(follower)
        shown = terminal.read(4096).decode()
    assert result.returncode == 0 and "exca store du:" in shown and "walked" in shown
    assert "exca store du:" not in result.stdout.decode()
    assert exca("store", "du", str(store.folder), env=env).stderr == ""


def test_share_makes_an_empty_folder_a_store_for_the_group(tmp_path: Path) -> None:
    folder = tmp_path / "new-team-cache"
    folder.mkdir()
    result = exca("store", "share", str(folder), "--group", str(os.getegid()), "--json")
    assert result.returncode == 0, result.stderr
    assert (folder / "exca-store.json").is_file() and folder.stat().st_mode & 0o2070 == 0o2070
    assert exca_json("store", "info", str(folder))["entries"] == 0  # type: ignore[index]


class CliScale(Step):
    coeff: float = 2.0

    def _run(self, value: float) -> float:
        return value * self.coeff


def test_ls_shows_a_real_steps_folder_with_its_config(tmp_path: Path) -> None:
    step = CliScale(coeff=3.0, infra={"backend": "Cached", "folder": tmp_path})
    assert list(step.run_many([1.0, 2.0])) == [3.0, 6.0]
    (folder,) = exca_json("store", "ls", str(tmp_path))
    step_folder = step.lookup(1.0).paths.step_folder
    assert folder["step_folder"] == str(step_folder.relative_to(tmp_path))  # type: ignore[index]
    assert folder["config"] == {"type": "CliScale", "coeff": 3.0}  # type: ignore[index]
    assert folder["entries"] == 2  # type: ignore[index]
    entries = exca_json("store", "ls", str(tmp_path), folder["step_folder"])  # type: ignore[index]
    assert [e["status"] for e in entries] == ["success", "success"]  # type: ignore[index]
