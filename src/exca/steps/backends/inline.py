"""``Cached``: units of work run inline, in the driver's thread, one after the other."""

from __future__ import annotations

from .base import Backend

__all__ = ["Cached"]


class Cached(Backend):
    """Inline execution + caching.

    Parameters
    ----------
    capture_logs:
        Also write what the computations print (stdout, stderr) and log into
        ``logs/main-process/log.stdout`` and ``log.stderr`` of the step folder.
    """

    capture_logs: bool = False
