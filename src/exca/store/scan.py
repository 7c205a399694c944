"""Finding what a store folder holds on disk: namespaces, objects, temporaries."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from .layout import (
    CLAIMS_DIR,
    FORMAT_FILE,
    LOOSE_DIR,
    OBJECTS_DIR,
    PACKS_DIR,
    QUARANTINE_DIR,
    is_temp_name,
)

__all__ = [
    "iter_claims_folders",
    "iter_namespace_folders",
    "iter_temporaries",
    "path_size",
    "age_s",
]


def iter_namespace_folders(root: Path) -> Iterator[Path]:
    """Every folder under ``root`` holding entries (an ``entries`` or ``packs`` folder)."""
    for current, dirs, _ in os.walk(root):
        here = Path(current)
        if here == root:
            dirs[:] = [d for d in dirs if d not in (OBJECTS_DIR, QUARANTINE_DIR)]
        if LOOSE_DIR in dirs or PACKS_DIR in dirs:
            yield here
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in (LOOSE_DIR, PACKS_DIR, CLAIMS_DIR)
            and not is_temp_name(d)
            and not os.path.exists(os.path.join(current, d, FORMAT_FILE))  # a store of its own
        )


def iter_claims_folders(root: Path) -> Iterator[Path]:
    """Every ``claims`` folder under ``root`` (coordination records of step folders)."""
    for current, dirs, _ in os.walk(root):
        if CLAIMS_DIR in dirs:
            yield Path(current) / CLAIMS_DIR
        dirs[:] = [
            d
            for d in dirs
            if d not in (OBJECTS_DIR, QUARANTINE_DIR, LOOSE_DIR, PACKS_DIR, CLAIMS_DIR)
            and not is_temp_name(d)
        ]


def iter_temporaries(root: Path) -> Iterator[Path]:
    """Temporary files and folders left by writers anywhere under ``root``."""
    for current, dirs, files in os.walk(root):
        for name in [*files, *dirs]:
            if is_temp_name(name):
                yield Path(current) / name
        dirs[:] = [d for d in dirs if not is_temp_name(d) and d != QUARANTINE_DIR]


def path_size(path: Path) -> int:
    """Bytes of a file, or of all files in a folder."""
    if path.is_dir():
        return sum(
            os.path.getsize(os.path.join(folder, name))
            for folder, _, files in os.walk(path)
            for name in files
        )
    return os.path.getsize(path)


def age_s(path: Path, now: float) -> float:
    """Seconds since ``path`` was last modified."""
    return now - os.lstat(path).st_mtime
