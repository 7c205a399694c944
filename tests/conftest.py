"""Fixtures shared by test packages: a Python interpreter that an ordinary user can run.

Tests of permissions run a child as uid 65534 (CI runs as root, which ignores them).
That child must be able to read the interpreter's packages and exca's sources: when the
checkout lives under a folder other users cannot enter (``mktemp -d``, a private home),
it cannot, so the fixture then builds a world-readable virtual environment beside the
tests' other shared folders, its files hard-linked to the originals where the file
system allows it (copied otherwise), and runs the child there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

NOBODY = 65534
_PROBE = "import exca.store, exca.steps, numpy, zarr"


@dataclass(frozen=True)
class Unprivileged:
    """How to run a Python child as uid 65534: its interpreter and environment."""

    python: str
    env: dict[str, str]

    def run(
        self, args: list[str], cwd: Path | str, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """``python *args`` as uid 65534, output captured as text."""
        ids = [f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        return subprocess.run(
            ["setpriv", *ids, self.python, *args],
            env=self.env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip


@pytest.fixture(scope="session")
def unprivileged() -> Iterator[Unprivileged]:
    """A Python that uid 65534 can run with exca and its dependencies importable."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is missing: cannot run a child as uid 65534")
    if os.geteuid() != 0:
        pytest.skip("switching to uid 65534 needs root (this run is already unprivileged)")
    home = Path(tempfile.mkdtemp(prefix="exca-nobody-"))
    home.chmod(0o755)
    os.chown(home, NOBODY, NOBODY)
    env = {**os.environ, "HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("EXCA_VERIFY_READS", None)
    child = Unprivileged(sys.executable, env)
    try:
        if child.run(["-c", _PROBE], cwd=home).returncode:  # a private checkout
            child = Unprivileged(_readable_venv(home / "venv"), env)
            probe = child.run(["-c", _PROBE], cwd=home)
            if probe.returncode:
                pytest.fail(f"uid {NOBODY} cannot run a copy of this environment:\n{probe.stderr}")
        yield child
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _readable_venv(target: Path) -> str:
    """A virtual environment at ``target`` holding this one's packages and exca's sources
    (hard links, or copies across file systems); returns its interpreter."""
    import exca

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    purelib = sysconfig.get_path("purelib")
    mirror = Path(sysconfig.get_path("purelib", vars={"base": str(target)}))
    for entry in os.scandir(purelib):
        if entry.name.startswith("__editable__"):
            continue  # points into the private checkout: replaced below
        if entry.is_dir(follow_symlinks=False):
            shutil.copytree(entry.path, mirror / entry.name, copy_function=_link_or_copy)
        else:
            _link_or_copy(entry.path, mirror / entry.name)
    sources = target / "src"
    shutil.copytree(Path(exca.__file__).parent, sources / "exca", copy_function=_link_or_copy)
    (mirror / "exca-sources.pth").write_text(f"{sources}\n")
    return str(target / "bin" / "python")


def _link_or_copy(source: str, destination: str | os.PathLike[str]) -> None:
    try:
        os.link(source, destination)
    except OSError:  # another file system, or links refused: a copy reads the same
        shutil.copy2(source, destination)
