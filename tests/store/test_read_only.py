"""Contract: reads never write (DESIGN guarantees 3 and 4, issue 2 point 6).

Reading every kind of value (memory-mapped npy, inline msgpack, nested, zarr, pickle,
parquet, cached errors; loose and packed entries; through layers) leaves every path of
the store as it was: same names, sizes, modes, inodes and modification times, nothing
new. A store the user cannot write serves every value, and each operation that must
write raises ``ReadOnlyStoreError`` (a ``PermissionError``) naming the folder and what
was attempted, creating nothing. CI runs as root, which ignores permissions, so the
unprivileged checks run in a child process switched to uid 65534 with ``setpriv``.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import inspect
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from exca.store import CacheDict, Store, key_of

NOBODY = 65534
LOOSE = "loose"
STEP = "type=Mult,coeff=3-ab12/cache"  # a step-like nested namespace, mostly packed
NAMESPACES = (LOOSE, STEP)
HAS_PANDAS = all(importlib.util.find_spec(name) for name in ("pandas", "pyarrow"))
SMALL = {"t": (1, 2.5), "s": {3, 4}, "b": b"x", "f": np.float32(1.5),
         "when": dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)}  # fmt: skip


def _values() -> dict[str, tuple[object, str | None]]:
    """key -> (value, explicit codec or None for the automatic choice)."""
    values: dict[str, tuple[object, str | None]] = {
        "array": (np.arange(24.0).reshape(4, 6), None),
        "fortran": (np.asfortranarray(np.arange(12, dtype=np.int16).reshape(3, 4)), None),
        "small": (SMALL, None),
        "nested": ({"big": np.arange(1000.0), "label": ("cat", 1)}, None),
        "zarr": (np.arange(100, dtype=np.int32).reshape(10, 10), "zarr"),
        "pickled": ({"x": [1, 2]}, "pickle"),
        "object-array": (np.array(["a", 1, None], dtype=object), None),
    }
    if HAS_PANDAS:
        import pandas as pd

        values["frame"] = (pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]}), None)
    return values


def _normalize(value: object) -> object:
    """A value made of types ``key_of`` encodes, so a digest compares values exactly."""
    import numpy as np

    kind = type(value)
    if kind.__module__.startswith("zarr"):
        return ("zarr", np.asarray(value[...]))  # type: ignore[index]
    if kind.__name__ == "DataFrame":
        frame = value
        columns = [np.asarray(frame[c]) for c in frame.columns]  # type: ignore[index,attr-defined]
        return ("frame", list(frame.columns), columns, np.asarray(frame.index))  # type: ignore[attr-defined]
    if isinstance(value, np.ndarray):
        return np.asarray(value)
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return kind(_normalize(v) for v in value)  # type: ignore[call-arg]
    return value


def _read_everything(root: str, namespaces: list[str], layers: list[str]) -> dict:
    """Read every value in every way (runs here and, by its source, in the child)."""
    from pathlib import Path

    import numpy as np

    from exca.store import CacheDict, Store, key_of

    summary: dict = {}
    for options in ({}, {"verify_reads": "full"}):
        store = Store(root, layers=layers, **options)
        for relpath in namespaces:
            namespace = store.namespace(relpath)
            entries = list(namespace.iter_entries())
            assert namespace.entries([e.key for e in entries]) == {e.key: e for e in entries}
            for entry in entries:
                assert namespace.entry(entry.key) == entry and entry.key in namespace
                name = f"{relpath}:{entry.key}"
                if entry.status == "error":
                    summary[name] = repr(namespace.load_error(entry))
                    continue
                mapped = namespace.load(entry)
                loaded = namespace.load(entry, keep_in_ram=True)
                digest = key_of(_normalize(mapped))
                assert key_of(_normalize(loaded)) == digest, name
                summary[name] = digest
                if isinstance(mapped, np.ndarray):
                    summary[name + ":type"] = type(mapped).__name__
            assert namespace.entry("never-written") is None
        summary["verify"] = str(store.verify())
        summary["gc-dry-run"] = sorted(map(str, store.gc(dry_run=True, grace_s=0).removed))
    for relpath in namespaces:
        cache = CacheDict(Path(root) / relpath, root=root, layers=layers)
        items = dict(cache.items())
        summary[f"{relpath}:len"] = [len(cache), sorted(cache.keys()), sorted(items)]
        for key, value in items.items():
            assert key_of(_normalize(value)) == summary[f"{relpath}:{key}"]
    return summary


def _populate(root: Path) -> dict[str, object]:
    """Write the store; returns what ``_read_everything`` must find."""
    store = Store(root)
    loose, packed = store.namespace(LOOSE), store.namespace(STEP)
    expected: dict[str, object] = {}
    for key, (value, codec) in _values().items():
        loose.put(key, value, codec=codec)
        expected[f"{LOOSE}:{key}"] = key_of(
            ("zarr", value) if codec == "zarr" else _normalize(value)
        )
        if isinstance(value, np.ndarray) and codec is None:  # object arrays come from pickle
            expected[f"{LOOSE}:{key}:type"] = "ndarray" if value.dtype.hasobject else "memmap"
    loose.put_error("failed", ValueError("boom"))
    expected[f"{LOOSE}:failed"] = repr(ValueError("boom"))
    with packed.batch():  # one pack
        packed.put("batched", np.arange(7.0))
        gone = packed.put("gone", np.arange(3.0))  # its object is left for gc
    packed.put("packed-later", (1, "two"))
    packed.put_error("failed-packed", KeyError("k"))
    assert packed.pack() == 2
    packed.put("still-loose", {"x": 1.0})
    packed.delete("gone")  # a loose tombstone over a packed record
    expected.update({f"{STEP}:batched": key_of(np.arange(7.0)), f"{STEP}:batched:type": "memmap",
                     f"{STEP}:packed-later": key_of((1, "two")),
                     f"{STEP}:failed-packed": repr(KeyError("k")),
                     f"{STEP}:still-loose": key_of({"x": 1.0})})  # fmt: skip
    stray = root / "objects" / ".tmp.left-by-a-crash"
    stray.write_bytes(b"partial")  # young: verify() does not report it, gc(grace_s=0) would
    expected["gc-dry-run"] = sorted([str(stray), str(store.objects.locate(gone.objects[0]))])
    return expected


def _snapshot(root: Path) -> dict[str, tuple[int, ...]]:
    """Every path under ``root`` with what a write would change (atimes left out)."""
    listing = {}
    for path in [root, *sorted(root.rglob("*"))]:
        st = os.lstat(path)
        listing[str(path.relative_to(root))] = (
            st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_nlink
        )  # fmt: skip
    return listing


@pytest.fixture(scope="module")
def shared_tmp() -> Iterator[Path]:
    """A folder every user may traverse (pytest's own tmp folders are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="exca-read-only-"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder)


@pytest.fixture(scope="module")
def populated(shared_tmp: Path) -> tuple[Path, dict[str, object]]:
    root = shared_tmp / "store"
    expected = _populate(root)
    subprocess.run(["chmod", "-R", "a+rX,go-w", str(root)], check=True)
    return root, expected


def _values_of(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if ":" in k and not k.endswith(":len")}


def _check_summary(summary: dict, expected: dict[str, object]) -> None:
    assert _values_of(summary) == _values_of(expected)
    assert summary["verify"].splitlines()[1:] == []  # verify found nothing wrong
    assert summary["gc-dry-run"] == expected["gc-dry-run"]
    keys = ["batched", "packed-later", "still-loose"]  # a cached error is no value
    assert summary[f"{STEP}:len"] == [3, keys, keys]


def test_reading_every_value_in_every_way_changes_nothing_on_disk(populated, monkeypatch) -> None:
    root, expected = populated
    before = _snapshot(root)
    summary = _read_everything(str(root), list(NAMESPACES), [])
    _check_summary(summary, expected)
    monkeypatch.setenv("EXCA_VERIFY_READS", "full")
    assert _read_everything(str(root), list(NAMESPACES), []) == summary
    assert _snapshot(root) == before


def _attempt_writes(root: str, relpath: str, present: str, read_only: bool = False) -> dict:
    """Try every operation that writes; ``[error type, is PermissionError, message]``."""
    from pathlib import Path

    import numpy as np

    from exca.store import CacheDict, Store

    store = Store(root, read_only=read_only)
    namespace = store.namespace(relpath)
    cache = CacheDict(Path(root) / relpath, root=root, read_only=read_only)
    attempts = {
        "put": lambda: namespace.put("new", 1),
        "put an array": lambda: namespace.put("new", np.arange(5.0)),
        "put an error": lambda: namespace.put_error("new", ValueError("x")),
        "delete": lambda: namespace.delete(present),
        "pack": namespace.pack,
        "verify(fix=True)": lambda: store.verify(fix=True, grace_s=0),
        "gc()": lambda: store.gc(grace_s=0),
        "cache[key] = value": lambda: cache.__setitem__("new", 2),
        "del cache[key]": lambda: cache.__delitem__(present),
    }
    outcome: dict = {}
    for name, attempt in attempts.items():
        try:
            attempt()
        except Exception as err:  # noqa: BLE001 - recorded, and checked by the parent
            outcome[name] = [type(err).__name__, isinstance(err, PermissionError), str(err)]
        else:
            outcome[name] = ["no error"]
    return outcome


_ATTEMPTED = {  # what each refused operation's message says was attempted
    "put": "write an entry",
    "put an array": "write an object",
    "put an error": "write an entry",
    "delete": "write an entry",
    "pack": "pack entries",
    "verify(fix=True)": "fix problems found by verify",
    "gc()": "collect garbage",
    "cache[key] = value": "write an entry",
    "del cache[key]": "write an entry",
}


def _check_refusals(outcome: dict, root: Path, read_only_flag: bool) -> None:
    assert set(outcome) == set(_ATTEMPTED)
    for name, (kind, is_permission_error, *message) in outcome.items():
        assert (kind, is_permission_error) == ("ReadOnlyStoreError", True), (name, message)
        text = message[0]
        assert str(root) in text and "read-only" in text, (name, text)
        assert ("opened with read_only=True" in text) == read_only_flag, (name, text)
        if not read_only_flag:
            assert f"cannot {_ATTEMPTED[name]}" in text, (name, text)


def test_a_store_opened_read_only_refuses_every_write_and_changes_nothing(populated) -> None:
    root, expected = populated
    before = _snapshot(root)
    for relpath, present in ((LOOSE, "array"), (STEP, "batched")):
        outcome = _attempt_writes(str(root), relpath, present, read_only=True)
        _check_refusals(outcome, root, read_only_flag=True)
    cache = CacheDict(root / LOOSE, root=root, read_only=True)
    assert cache["small"] == SMALL and "small" in cache
    _check_summary(_read_everything(str(root), list(NAMESPACES), []), expected)
    assert _snapshot(root) == before


def test_reading_a_folder_that_does_not_exist_creates_nothing(shared_tmp: Path) -> None:
    absent = shared_tmp / "absent" / "store"
    store = Store(absent)
    namespace = store.namespace("some/step")
    assert namespace.entry("k") is None and "k" not in namespace and len(namespace) == 0
    assert namespace.entries(["k", "j"]) == {}
    cache = CacheDict(absent / "cache", root=absent)
    assert len(cache) == 0 and cache.get("k") is None and list(cache.items()) == []
    assert store.verify().ok and store.gc().removed == []
    assert not absent.parent.exists()


def test_layers_serve_hits_from_a_read_only_team_store_and_writes_go_to_the_top(
    populated, tmp_path: Path
) -> None:
    team, expected = populated
    before = _snapshot(team)
    top = tmp_path / "mine"
    summary = _read_everything(str(top), list(NAMESPACES), [str(team)])
    assert _values_of(summary) == _values_of(expected)
    assert not top.exists()  # reading through layers created nothing on top either
    namespace = Store(top, layers=[team]).namespace(LOOSE)
    namespace.put("mine", np.arange(4.0))
    namespace.put("small", "shadowed")
    assert namespace.delete("pickled")
    assert namespace.load(namespace.entry("small")) == "shadowed"  # type: ignore[arg-type]
    assert "pickled" not in namespace and "mine" in namespace
    assert namespace.load(namespace.entry("nested"))["label"] == ("cat", 1)  # type: ignore[arg-type]
    assert _snapshot(team) == before
    team_namespace = Store(team, read_only=True).namespace(LOOSE)
    assert "pickled" in team_namespace and "mine" not in team_namespace
    assert len(list((top / LOOSE / "entries").iterdir())) == 3
    assert len(list((top / "objects").rglob("*.npy"))) == 1


# ---------------------------------------------------------------- as an ordinary user
@pytest.fixture(scope="module")
def nobody(unprivileged):  # (tests/conftest.py: a Python uid 65534 can run)
    return unprivileged


def _as_nobody(nobody, cwd: Path, *calls: tuple) -> list:
    """Results of ``function(*args)`` for each ``(function, *args)``, run as uid 65534."""
    functions = {_normalize, _read_everything, *(call[0] for call in calls)}
    script = "\n".join([
        "import json, sys", *(inspect.getsource(f) for f in functions),
        "calls = json.loads(sys.argv[1])",
        "print(json.dumps([globals()[name](*args) for name, *args in calls]))",
    ])  # fmt: skip
    arguments = json.dumps([[call[0].__name__, *call[1:]] for call in calls])
    result = nobody.run(["-c", script, arguments], cwd)
    if result.returncode:
        pytest.fail(f"child run as uid {NOBODY} failed:\n{result.stderr}")
    return json.loads(result.stdout.splitlines()[-1])


def test_a_user_who_cannot_write_the_store_reads_every_value(populated, nobody) -> None:
    root, expected = populated
    before = _snapshot(root)
    (summary,) = _as_nobody(nobody, root.parent, (_read_everything, str(root), NAMESPACES, []))
    _check_summary(summary, expected)
    assert _snapshot(root) == before


def test_every_write_by_a_user_who_cannot_write_is_refused_and_creates_nothing(
    populated, nobody
) -> None:
    root, expected = populated
    before = _snapshot(root)
    calls = [
        (_attempt_writes, str(root), LOOSE, "array"),
        (_attempt_writes, str(root), STEP, "batched"),
    ]
    for outcome in _as_nobody(nobody, root.parent, *calls):
        _check_refusals(outcome, root, read_only_flag=False)
    assert _snapshot(root) == before


def _write_on_top(top: str, team: str, relpath: str) -> dict:
    from exca.store import Store

    namespace = Store(top, layers=[team]).namespace(relpath)
    namespace.put("mine", [1, 2])
    namespace.put("small", "shadowed")
    return {key: namespace.load(namespace.entry(key)) for key in ("mine", "small")}


def test_a_user_reads_a_team_store_as_a_layer_and_writes_into_their_own(
    populated, nobody, shared_tmp: Path
) -> None:
    team, expected = populated
    before = _snapshot(team)
    top = shared_tmp / "nobody-top"
    top.mkdir()
    os.chown(top, NOBODY, NOBODY)
    summary, written = _as_nobody(
        nobody, shared_tmp,
        (_read_everything, str(top), NAMESPACES, [str(team)]),
        (_write_on_top, str(top), str(team), LOOSE),
    )  # fmt: skip
    assert _values_of(summary) == _values_of(expected)
    assert written == {"mine": [1, 2], "small": "shadowed"}
    assert _snapshot(team) == before
    owners = {path.stat().st_uid for path in top.rglob("*")}
    assert owners == {NOBODY} and len(list((top / LOOSE / "entries").iterdir())) == 2
