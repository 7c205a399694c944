"""``Cached``: units of work run inline, in the driver's thread, one after the other."""

from __future__ import annotations

from .base import Backend

__all__ = ["Cached"]


class Cached(Backend):
    """Inline execution + caching."""
