"""Store operations the sharing tests run as ordinary users (through ``as_user.py``)
or in the test process itself; each returns what the test compares, as JSON data."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from exca.steps import Step
from exca.store import Store, key_of

SHARED_PAYLOAD = np.arange(5000.0)  # written by both users: stored once
HERE = Path(__file__).parent


def run_as(uid: int, gid: int, calls: list[list], umask: str = "002") -> list:
    """The results of ``calls`` (``[name, *args]`` of this module) run as ``uid:gid``
    in a child that imports exca as root first (see ``as_user.py``)."""
    command = [sys.executable, str(HERE / "as_user.py"), str(uid), str(gid), umask,
               str(HERE / "sharing_ops.py"), json.dumps(calls)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd="/", timeout=300)
    if result.returncode:
        raise RuntimeError(f"child run as uid {uid} failed:\n{result.stderr}")
    return json.loads(result.stdout.splitlines()[-1])


def values(tag: str) -> dict[str, tuple[object, str | None]]:
    """key -> (value, codec or None): one of each kind, ``tag`` making them distinct."""
    seed = sum(map(ord, tag))
    return {
        f"array-{tag}": (np.arange(1000.0) + seed, None),
        "same": (SHARED_PAYLOAD, None),
        f"zarr-{tag}": (np.arange(100, dtype=np.int32).reshape(10, 10) + seed, "zarr"),
        f"small-{tag}": ({"t": (1, tag), "s": {seed}}, None),
        f"nested-{tag}": ({"big": np.arange(2000.0) * seed, "label": tag}, None),
        f"pickled-{tag}": ({"x": [seed]}, "pickle"),
    }


def normalized_digest(value: object) -> str:
    """One digest for equal values, whatever container type a codec returns."""
    if type(value).__module__.startswith("zarr"):
        value = np.asarray(value[...])  # type: ignore[index]
    if isinstance(value, dict):
        value = {k: normalized_digest(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        value = np.asarray(value)
    return key_of(value)


def expected_digests(tag: str) -> dict[str, str]:
    return {key: normalized_digest(value) for key, (value, _) in values(tag).items()}


def write(root: str, relpath: str, tag: str) -> dict[str, str]:
    namespace = Store(root).namespace(relpath)
    for key, (value, codec) in values(tag).items():
        namespace.put(key, value, codec=codec)
    namespace.put_error(f"failed-{tag}", ValueError(tag))
    return expected_digests(tag)


def read(root: str, relpath: str, layers: list[str] | None = None) -> dict[str, str]:
    """Every entry of ``relpath`` read (mapped and in RAM), by key."""
    namespace = Store(root, layers=layers or []).namespace(relpath)
    found: dict[str, str] = {}
    for entry in namespace.iter_entries():
        if entry.status == "error":
            found[entry.key] = repr(namespace.load_error(entry))
            continue
        digest = normalized_digest(namespace.load(entry))
        assert normalized_digest(namespace.load(entry, keep_in_ram=True)) == digest
        found[entry.key] = digest
    return found


def lookup(root: str, relpath: str, key: str) -> list:
    """``["value", repr]`` of ``key``'s value, or ``["error", type name, is it a
    PermissionError]``."""
    try:
        return ["value", repr(Store(root).namespace(relpath).entry(key).inline)]  # type: ignore[union-attr]
    except Exception as err:  # noqa: BLE001 - reported to the test, which checks it
        return ["error", type(err).__name__, isinstance(err, PermissionError)]


def pack(root: str, relpath: str) -> int:
    return Store(root).namespace(relpath).pack()


def put_shared_object(root: str) -> str:
    """Write the shared payload as an object only (no entry refers to it)."""
    return str(Store(root).objects.put_array(SHARED_PAYLOAD).digest)


def gc(root: str, grace_s: float) -> dict[str, object]:
    report = Store(root).gc(grace_s=grace_s)
    removed = sorted(os.path.relpath(path, root) for path in report.removed)
    return {"removed": removed, "kept_young": report.kept_young}


def attempt_writes(root: str, relpath: str, present: str) -> dict[str, list]:
    """Each operation that must write: ``[error type, message]`` or ``["no error"]``."""
    store = Store(root)
    namespace = store.namespace(relpath)
    attempts = {
        "write an entry": lambda: namespace.put("new", 1),
        "write an object": lambda: namespace.put("new", np.arange(5.0)),
        "write an entry (an error)": lambda: namespace.put_error("new", ValueError("x")),
        "write an entry (a deletion)": lambda: namespace.delete(present),
        "pack entries": namespace.pack,
        "fix problems found by verify": lambda: store.verify(fix=True, grace_s=0),
        "collect garbage": lambda: store.gc(grace_s=0),
        "write (config.json)": lambda: store.write_text(Path(relpath) / "config.json", "{}"),
    }
    outcome: dict[str, list] = {}
    for name, attempt in attempts.items():
        try:
            attempt()
        except Exception as err:  # noqa: BLE001 - recorded, and checked by the test
            outcome[name] = [type(err).__name__, isinstance(err, PermissionError), str(err)]
        else:
            outcome[name] = ["no error"]
    return outcome


def cli(argv: list[str]) -> list:
    """``exca *argv`` in this process: [exit status, stdout, stderr]."""
    from exca.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as done:  # --help
            status = done.code
    return [status, out.getvalue(), err.getvalue()]


class SharedEmbed(Step):
    """A step both the team and its members run (defined here: children import it)."""

    scale: float = 1.0

    def _run(self, subject: float) -> np.ndarray:
        return np.full(100, subject * self.scale)


def run_embed(folder: str, read_folders: list[str], subjects: list[float]) -> dict:
    """Run SharedEmbed over ``subjects``; where each result was found, and its values."""
    step = SharedEmbed(infra={"backend": "Cached", "folder": folder, "read_folders": read_folders})
    values = [float(v[0]) for v in step.run_many(subjects)]
    where = [str(step.lookup(s).paths.cache_folder).split("/type=")[0] for s in subjects]
    return {"values": values, "found_in": where}


def traversable_folder(prefix: str) -> Path:
    """A new folder every user may traverse, for tests that switch users (root only:
    pytest's own temporary folders are private to root)."""
    import tempfile

    if os.geteuid() != 0:
        import pytest

        pytest.skip("switching to other users needs root (this run is unprivileged)")
    base = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(base, 0o755)
    return base
