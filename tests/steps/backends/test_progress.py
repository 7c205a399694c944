"""Contract of the progress bar and the submission log: a bar while a driver waits on pools
or jobs when stderr is a terminal, none (and tqdm not even imported) when it is not or when
disabled by ``settings.progress`` or ``EXCA_PROGRESS=0``; submitted work is logged with its
job ids and log folder."""

from __future__ import annotations

import fcntl
import logging
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from backend_steps import Record

CHILD = """
import sys
from backend_steps import Record
from exca.steps.backends import settings
settings.progress = sys.argv[3] == "on"
step = Record(calls=sys.argv[1], infra={"backend": "ThreadPool", "folder": sys.argv[2]})
assert list(step.run_many(range(6))) == [2 * v for v in range(6)]
print("tqdm imported:", "tqdm" in sys.modules, file=sys.stderr)
"""


def run_child(tmp_path: Path, setting: str, terminal: bool, **env: str) -> str:
    calls = tmp_path / f"calls-{setting}-{terminal}-{len(env)}"
    calls.mkdir()
    args = [sys.executable, "-c", CHILD, str(calls), str(tmp_path / f"c-{calls.name}"), setting]
    environment = {**os.environ, **env}
    if not terminal:
        done = subprocess.run(args, capture_output=True, text=True, env=environment, check=True)
        return done.stderr
    leader, follower = pty.openpty()
    # a terminal of 80 columns (a new pty has 0, where a bar has no room)
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    child = subprocess.Popen(args, stderr=follower, stdout=subprocess.DEVNULL, env=environment)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert child.wait() == 0
    return b"".join(chunks).decode(errors="replace")


def test_a_bar_is_shown_on_a_terminal_while_waiting_on_a_pool(tmp_path: Path) -> None:
    output = run_child(tmp_path, "on", terminal=True)
    assert "Record (6 units)" in output and "/6 [" in output and "tqdm imported: True" in output


@pytest.mark.parametrize(
    ("setting", "terminal", "env"),
    [("on", False, {}), ("off", True, {}), ("on", True, {"EXCA_PROGRESS": "0"})],
    ids=["stderr-not-a-terminal", "settings-off", "env-var-off"],
)
def test_no_bar_and_no_tqdm_import_when_not_on_a_terminal_or_disabled(
    tmp_path: Path, setting: str, terminal: bool, env: dict[str, str]
) -> None:
    output = run_child(tmp_path, setting, terminal, **env)
    assert "units)" not in output and "tqdm imported: False" in output


def test_submitted_jobs_are_logged_with_their_ids_and_log_folder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "calls").mkdir()
    infra = {"backend": "LocalProcess", "folder": tmp_path / "cache", "max_jobs": 2}
    step = Record(calls=str(tmp_path / "calls"), infra=infra)  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger="exca"):
        assert list(step.run_many([1, 2, 3])) == [2, 4, 6]
    sent = [r for r in caplog.records if r.name == "exca.steps.backends"]
    (message,) = [r.getMessage() for r in sent if r.getMessage().startswith("submitted")]
    job = step.lookup(1).job()
    assert f"ids {job.job_id}" in message and str(tmp_path / "cache") in message
    assert "submitted 2 job(s) on local for 3 item(s) of Record" in message
