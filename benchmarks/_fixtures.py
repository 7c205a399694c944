"""Where benchmark fixtures live, and the source digest that names them (stdlib only)."""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def fixture_root() -> Path:
    """``$EXCA_BENCH_FIXTURES``, else ``.asv/fixtures`` in the repository (``make clean``)."""
    configured = os.environ.get("EXCA_BENCH_FIXTURES")
    return Path(configured) if configured else REPO / ".asv" / "fixtures"


def source_digest(package: Path, salt: str = "") -> str:
    """Digest of the ``.py`` files under ``package``: fixtures built by other code are rebuilt."""
    hasher = hashlib.blake2b(salt.encode(), digest_size=8)
    for path in sorted(package.rglob("*.py")):
        hasher.update(path.relative_to(package).as_posix().encode() + b"\0")
        hasher.update(path.read_bytes())
    return hasher.hexdigest()


@functools.cache
def byte_compile_exca(python: str) -> None:
    """Byte-compile the exca package that ``python`` imports, as installing it does (once
    per interpreter and process).

    pip compiles a package when it installs it, and an editable install writes its
    bytecode on first import, unless ``PYTHONDONTWRITEBYTECODE`` is set (as on the
    machines these benchmarks run on): then every fresh process of an editable install
    compiled exca from source (tens of ms) while the reference, installed from a wheel,
    did not. Compiling once here makes every timed import read bytecode, on both sides.
    This is the one mechanism for it: :func:`_child.run_child` calls it for the
    interpreter it starts, and whatever times a whole script calls it before starting
    one (the environment is left as it is). A package that cannot be compiled (a
    read-only site-packages) is left as it is.
    """
    where = subprocess.run(
        [python, "-c", "import exca, os; print(os.path.dirname(exca.__file__))"],
        capture_output=True,
        text=True,
    )
    if where.returncode == 0:
        subprocess.run(
            [python, "-m", "compileall", "-q", where.stdout.strip()], capture_output=True
        )


def source_state() -> str:
    """The commit measured, and whether ``src/`` had uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown commit"
    dirty = git("status", "--porcelain", "--", "src")
    return f"commit {commit}" + (" with uncommitted changes in src/" if dirty else "")
