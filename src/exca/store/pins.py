"""Pins: how a writer keeps an object it reuses from ``gc``, with a file of its own.

A writer that reuses an existing object (content addressing: it is stored once) must
keep it from ``gc`` until the entry that refers to it is published, and gc keeps an
unreferenced object while its mtime or a pin of it is younger than the grace period.
The object's owner refreshes its mtime; in a folder shared by a group nobody else may
(objects are read-only, and nobody touches another user's files), so anyone else
leaves a pin: an empty file beside the object, named by :func:`.layout.pin_name`.
"""

from __future__ import annotations

import os
from pathlib import Path

from .layout import pin_name, pinned_object_name
from .publish import discard
from .scan import age_s

__all__ = ["protect_from_gc", "pinned_objects"]


def protect_from_gc(final: str, owner: int) -> bool:
    """Keep a reused object from ``gc`` until the entry referring to it is published;
    False if it vanished meanwhile (then the caller writes it again).

    gc keeps an unreferenced object while its mtime or one of its pins is younger than
    the grace period. Only an object's owner may change its times (it is read-only),
    and in a folder shared by a group nobody touches another user's objects: the
    owner refreshes the mtime, anyone else creates a pin, a small file of its own
    beside the object. Protection first, then a check by name: gc renames an object
    aside before it re-checks times and pins, so either gc sees this protection and
    puts the object back, or this check finds it gone (see ``gc._collect_fan``).
    """
    if owner == os.geteuid():
        try:
            os.utime(final)
        except FileNotFoundError:
            return False
        return True
    pin = pin_name(final)
    os.close(os.open(pin, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444))
    if os.path.exists(final):
        return True
    discard(pin)
    return False


def pinned_objects(
    fan: Path, names: list[str], now: float, grace_s: float
) -> tuple[set[str], list[Path]]:
    """The object names young pins protect, and the pins old enough to remove."""
    pinned: set[str] = set()
    old: list[Path] = []
    for name in names:
        target = pinned_object_name(name)
        if target is None:
            continue
        try:
            young = age_s(fan / name, now) < grace_s
        except FileNotFoundError:
            continue
        if young:
            pinned.add(target)
        else:
            old.append(fan / name)
    return pinned, old
