"""Timing a workload inside a fresh child process, interpreter start and imports excluded.

Protocol: the parent starts ``PYTHON SCRIPT TASK ARGS_JSON``; the child imports what the
task needs and prepares its inputs, prints ``ready`` and waits for one line on stdin;
the parent may then drop the page cache; it sends ``go``; the child times the task with
``time.perf_counter`` and prints one JSON line: ``{"seconds": ..., **task output}``.

Standard library only: the child may run under another interpreter (the reference
virtualenv), and this module must import there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["ChildError", "drop_page_cache", "run_child", "serve"]

Task = Callable[[dict[str, Any]], Callable[[], dict[str, Any] | None]]
_TIMEOUT_S = 1800.0
_DROPPED_ENV = ("PYTHONPATH",)


class ChildError(RuntimeError):
    """A child process failed; the message carries its exit code and stderr tail."""


def serve(tasks: Mapping[str, Task], argv: list[str] | None = None) -> None:
    """Child side: prepare ``tasks[argv[1]]`` with ``argv[2]``, wait for ``go``, time it."""
    argv = sys.argv if argv is None else argv
    task, args = argv[1], json.loads(argv[2])
    run = tasks[task](args)
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.perf_counter()
    output = run()
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, **(output or {})}), flush=True)


def run_child(
    script: str,
    task: str,
    args: dict[str, Any],
    *,
    python: str = sys.executable,
    drop_cache_of: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Parent side: run ``task`` in a fresh ``python`` and return its JSON output.

    With ``drop_cache_of``, the page cache is dropped after the child is ready and before
    it starts timing (``drop_method`` in the output says how, see :func:`drop_page_cache`).
    """
    # parent side only: a child importing _fixtures would load pathlib before its timed
    # imports, which import it too
    from _fixtures import byte_compile_exca

    byte_compile_exca(python)  # (timed imports read bytecode, as installed packages do)
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    with subprocess.Popen(
        [python, script, task, json.dumps(args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        ready = proc.stdout.readline().strip()
        method = None
        if ready == "ready":
            if drop_cache_of is not None:
                method = drop_page_cache(drop_cache_of)
            proc.stdin.write("go\n")
            proc.stdin.flush()
        out, err = proc.communicate(timeout=_TIMEOUT_S)
    lines = out.strip().splitlines()
    if proc.returncode != 0 or ready != "ready" or not lines:
        tail = "\n".join(err.strip().splitlines()[-15:])
        raise ChildError(
            f"child {python} {os.path.basename(script)} {task} failed with exit code "
            f"{proc.returncode}:\n{tail}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    if method is not None:
        result["drop_method"] = method
    return result


def drop_page_cache(paths: Iterable[str]) -> str:
    """Evict ``paths`` (files or folders) from the page cache; returns the method used.

    ``drop_caches``: ``sync; echo 3 > /proc/sys/vm/drop_caches`` (root only; evicts the
    whole page cache, dentries and inodes). ``fadvise``: the fallback where that fails,
    ``posix_fadvise(POSIX_FADV_DONTNEED)`` on every file (dentries and inodes stay
    cached, so it is a milder eviction).
    """
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as handle:
            handle.write("3\n")
        return "drop_caches"
    except OSError:
        pass
    for path in paths:
        for folder, _, files in os.walk(path) if os.path.isdir(path) else [("", [], [path])]:
            for name in files:
                _fadvise_dontneed(os.path.join(folder, name))
    return "fadvise"


def _fadvise_dontneed(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
