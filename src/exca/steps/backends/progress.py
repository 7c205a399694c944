"""Progress of a dispatch while the driver waits for its units: a tqdm bar on a terminal.

Shown only when stderr is a terminal, ``settings.progress`` is true and the environment
variable ``EXCA_PROGRESS`` is not ``0``/``false``/``off``; tqdm is imported only then.
"""

from __future__ import annotations

import os
import sys

__all__ = ["Settings", "settings", "Progress", "progress_for"]

_OFF = ("0", "false", "no", "off")


class Settings:
    """Process-wide switches of the backends (``exca.steps.backends.settings``)."""

    progress: bool = True  # show a progress bar while waiting on pools and jobs


settings = Settings()


class Progress:
    """Items done and failed out of a total, shown as a bar."""

    def __init__(self, total: int, label: str) -> None:
        from tqdm import tqdm  # (only when a bar is shown)

        self._bar = tqdm(total=total, desc=label, unit="item", file=sys.stderr, leave=False)
        self._failed = 0

    def advance(self, done: int, failed: int) -> None:
        if failed:
            self._failed += failed
            self._bar.set_postfix(failed=self._failed, refresh=False)
        self._bar.update(done)

    def close(self) -> None:
        self._bar.close()


def progress_for(total: int, label: str) -> Progress | None:
    """A bar for ``total`` items, or None where none is to be shown."""
    if not settings.progress or os.environ.get("EXCA_PROGRESS", "").strip().lower() in _OFF:
        return None
    isatty = getattr(sys.stderr, "isatty", None)
    if isatty is None or not isatty():
        return None
    return Progress(total, label)
