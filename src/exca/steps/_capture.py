"""Capturing what a computation prints and logs into its step folder (``capture_logs``).

Standard output and error are copied, not taken: the console still shows them. Log
records reach the stderr log through a handler on the root logger. Both swaps are
process-wide, as any redirection of ``sys.stdout`` is: meant for inline computations.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import sys
import typing as tp

if tp.TYPE_CHECKING:
    from exca.store import Store

__all__ = ["captured"]

_FORMAT = "%(asctime)s - %(levelname)s - %(name)s:%(lineno)d - %(message)s"


class _Tee:
    """A text stream writing to a console stream and a log file."""

    def __init__(self, console: tp.TextIO, log: tp.TextIO) -> None:
        self._console, self._log = console, log

    def write(self, text: str) -> int:
        self._log.write(text)
        return self._console.write(text)

    def flush(self) -> None:
        self._log.flush()
        self._console.flush()

    def __getattr__(self, name: str) -> tp.Any:  # isatty, fileno, encoding...: the console's
        return getattr(self._console, name)


@contextlib.contextmanager
def captured(store: Store, folder: str, what: str) -> tp.Iterator[None]:
    """Copy stdout, stderr and log records into the logs of the step folder ``folder``,
    each run opened by a header line saying when and ``what``."""
    header = f"{datetime.datetime.now().astimezone().isoformat(timespec='seconds')} - {what}"
    with store.open_log(folder, "stdout") as out, store.open_log(folder, "stderr") as err:
        tees = _Tee(sys.stdout, out), _Tee(sys.stderr, err)
        for tee in tees:
            print(header, file=tee)
        root = logging.getLogger()
        # without handlers of its own, the root logger's records went to the console
        # (logging.lastResort): a handler added here would silence it, so it writes both
        handler = logging.StreamHandler(err if root.handlers else tees[1])
        handler.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(handler)
        try:
            with contextlib.redirect_stdout(tees[0]), contextlib.redirect_stderr(tees[1]):
                yield
        finally:
            root.removeHandler(handler)
