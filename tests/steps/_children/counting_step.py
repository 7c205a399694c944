"""A step that records each computation in a file, run as a driver process by tests.

``python counting_step.py FOLDER COUNTS DELAY MODE BACKEND ITEM...`` runs ``Counted``
over the items (ints) with BACKEND (``Cached``, ``ThreadPool``, ``Slurm``...) in FOLDER, appending one line per computed item
to the file COUNTS, printing ``started`` once its first item computes and ``done`` with
the results (JSON) at the end. With ``$COUNTED_IGNORE_SIGTERM`` set it ignores SIGTERM;
with ``$COUNTED_FAIL`` set, computing that value raises; with ``$COUNTED_DETACH`` set it
exits once the work is sent, printing ``sent``, without reading the results. A ``Counted``
unpickled in a child of process ``$COUNTED_DIE_IN_CHILD_OF`` kills that child at once (a
worker dying before it starts its unit); one unpickled with ``$COUNTED_SLOW_START`` set
first sleeps that many seconds (a worker late to take its claim over).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from exca.steps import Step


class Counted(Step):
    """Doubles its input slowly; every computation appends ``<pid> <value>`` to the file
    named by ``$COUNTED_FILE`` (the file is not part of the step's identity)."""

    delay: float = 0.0

    @classmethod
    def _exclude_from_cls_uid(cls) -> list[str]:
        return ["delay"]

    def __setstate__(self, state: dict) -> None:
        if os.environ.get("COUNTED_DIE_IN_CHILD_OF") == str(os.getppid()):
            os._exit(3)
        time.sleep(float(os.environ.get("COUNTED_SLOW_START") or 0))
        super().__setstate__(state)

    def _run(self, value: int) -> int:
        with open(os.environ["COUNTED_FILE"], "a") as counts:
            counts.write(f"{os.getpid()} {value}\n")
        print("started", flush=True)
        time.sleep(self.delay)
        if str(value) == os.environ.get("COUNTED_FAIL"):
            raise ValueError(f"bad value {value}")
        return 2 * value


def counts(path: str, pid: int | None = None) -> list[int]:
    """The values computed so far, one per computation (by process ``pid`` if given)."""
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        lines = [line.split() for line in handle if line.strip()]
    return [int(value) for who, value in lines if pid is None or int(who) == pid]


def main() -> None:
    folder, counted, delay, mode, backend, *items = sys.argv[1:]
    if os.environ.get("COUNTED_IGNORE_SIGTERM"):  # as a worker that outlives its job
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.environ["COUNTED_FILE"] = counted
    infra = {"backend": backend, "folder": folder, "mode": mode}
    step = Counted(delay=float(delay), infra=infra)
    sent = step.run_many([int(item) for item in items])
    if os.environ.get("COUNTED_DETACH"):
        print("sent", flush=True)
        return
    results = list(sent)
    print("done", json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
