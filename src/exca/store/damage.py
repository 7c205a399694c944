"""Records that cannot be trusted: how readers describe them, and the one warning they log.

A damaged record is a miss, never a value (STYLE: advisory layers degrade, never lie):
readers skip it, say so once, and point to ``verify(fix=True)``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .entries import SEAL_MAGIC, is_sealed

__all__ = ["Damage", "holds_record", "warn_damaged"]

logger = logging.getLogger("exca.store")


@dataclass(frozen=True, slots=True)
class Damage:
    """A record that cannot be read: where, why, and whether the file holds a record at
    all (a zero-length or foreign file refers to no object)."""

    path: Path
    reason: str
    holds_record: bool = True


def holds_record(path: Path) -> bool:
    """Whether a loose file that failed its check starts as a sealed record does."""
    try:
        with open(path, "rb") as handle:
            return is_sealed(handle.read(len(SEAL_MAGIC) + 8))
    except OSError:
        return True  # unknown: assume it may refer to objects


_WARNED: set[tuple[str, tuple[str, ...]]] = set()


def warn_damaged(folder: Path, reasons: Sequence[str], root: Path) -> None:
    """Log that some records of ``folder`` were skipped as damaged (read as misses): once
    per process for the same damage, as a listing and its ``len()`` both meet it."""
    seen = (str(folder), tuple(reasons))
    if seen in _WARNED:
        return
    _WARNED.add(seen)
    logger.warning(
        "skipped %d damaged record(s) in %s (read as misses): %s%s; run "
        "exca.store.Store(%r).verify(fix=True) to quarantine them",
        len(reasons), folder, "; ".join(reasons[:3]), "; ..." if len(reasons) > 3 else "",
        str(root),
    )  # fmt: skip
