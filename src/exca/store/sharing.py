"""Preparing a store folder, and what it already holds, for the users of one group.

Afterwards every folder belongs to the group, is group-writable and setgid (so what its
members create there belongs to the group too), and every file is group-readable.
Objects stay read-only: members publish new names beside them, never change them. New
files follow each writer's umask (``umask 002`` lets the group write the folders a
member creates); nothing here runs again on later writes.
"""

from __future__ import annotations

import grp
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import ShareRefusedError

__all__ = ["Change", "resolve_group", "share_with_group", "start_empty_store"]

_FOLDER_BITS = stat.S_ISGID | stat.S_IRWXG
_FILE_BITS = stat.S_IRGRP


@dataclass(frozen=True, slots=True)
class Change:
    path: Path
    what: str  # e.g. "group root -> team", "mode 0o755 -> 0o2775"


def resolve_group(group: str) -> int:
    """The gid of a group name or number (``KeyError`` naming it if there is none)."""
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise KeyError(f"no group named {group!r} on this machine (see getent group)") from None


def start_empty_store(folder: str | os.PathLike[str]) -> bool:
    """Make an existing empty folder a store (its format marker); whether it did."""
    path = Path(folder).expanduser().absolute()
    if not path.is_dir() or any(path.iterdir()):
        return False
    from .store import Store

    Store(path).prepare_write("create a store")
    return True


def share_with_group(folder: Path, gid: int, *, dry_run: bool = False) -> list[Change]:
    """Give ``folder`` and everything under it to group ``gid`` (see the module doc).

    Nothing changes unless every change is allowed: this user must own every path
    (or be root) and belong to the group; otherwise ``ReadOnlyStoreError`` (a
    ``PermissionError``) says which path or group stands in the way.
    """
    folder = Path(folder)
    plan = [(path, st, *_wanted(st, gid)) for path, st in _walk(folder)]
    changes = [(path, st, mode) for path, st, mode, regroup in plan if regroup or mode]
    _check_allowed(folder, gid, [(path, st) for path, st, _ in changes])
    done = []
    for path, st, mode in changes:
        if st.st_gid != gid:
            if not dry_run:
                os.chown(path, -1, gid, follow_symlinks=False)
            done.append(Change(path, f"group {_group_name(st.st_gid)} -> {_group_name(gid)}"))
        if mode:
            if not dry_run:  # chown may clear setgid: set the mode after it
                os.chmod(path, mode)
            done.append(Change(path, f"mode {oct(stat.S_IMODE(st.st_mode))} -> {oct(mode)}"))
    return done


def _walk(folder: Path) -> Iterator[tuple[Path, os.stat_result]]:
    yield folder, os.lstat(folder)
    for current, dirs, files in os.walk(folder):
        for name in sorted(dirs) + sorted(files):
            path = Path(current) / name
            yield path, os.lstat(path)


def _wanted(st: os.stat_result, gid: int) -> tuple[int, bool]:
    """(the new mode, or 0 when it stays; whether the group changes)."""
    if stat.S_ISLNK(st.st_mode):
        return 0, False
    bits = _FOLDER_BITS if stat.S_ISDIR(st.st_mode) else _FILE_BITS
    mode = stat.S_IMODE(st.st_mode)
    return (mode | bits if mode & bits != bits or st.st_gid != gid else 0), st.st_gid != gid


def _check_allowed(folder: Path, gid: int, changes: list[tuple[Path, os.stat_result]]) -> None:
    uid = os.geteuid()
    if uid == 0 or not changes:
        return
    group = _group_name(gid)
    if gid not in os.getgroups() and gid != os.getegid():
        raise ShareRefusedError(folder, group, f"uid {uid} is not a member of group {group}")
    foreign = [path for path, st in changes if st.st_uid != uid]
    if foreign:
        raise ShareRefusedError(
            folder,
            group,
            f"{len(foreign)} paths to change belong to other users ({foreign[0]}, ...)",
        )


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
