"""``Store.verify``: re-hash every object, check every entry, optionally quarantine."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from . import generations, npy
from .codecs.base import Encoded
from .digest import digest_bytes, tree_digest
from .entries import new_entry
from .entry_table import EntryTable
from .errors import CorruptArtifactError
from .layout import OBJECTS_DIR, QUARANTINE_DIR, object_path_to_digest
from .packs import Pack
from .publish import translate_write_errors
from .scan import age_s, iter_namespace_folders, iter_temporaries

if TYPE_CHECKING:
    from .store import Store

__all__ = ["Problem", "VerifyReport", "verify_store"]

ProblemKind = Literal["corrupt", "truncated", "missing", "unreadable", "stray-temporary"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a store: where, what kind, and a readable explanation."""

    path: Path
    kind: ProblemKind
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}: {self.message}"


@dataclass(slots=True)
class VerifyReport:
    """Result of :meth:`Store.verify`; ``fixed`` lists what ``fix=True`` moved or removed."""

    problems: list[Problem] = field(default_factory=list)
    fixed: list[Path] = field(default_factory=list)
    objects_checked: int = 0
    entries_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        head = f"{self.objects_checked} objects, {self.entries_checked} entries checked"
        return "\n".join([head, *(str(p) for p in self.problems)] or [head])


def verify_store(store: Store, *, fix: bool, grace_s: float) -> VerifyReport:
    report = VerifyReport()
    if not store.folder.is_dir():
        return report
    if fix:
        store.check_can_write("fix problems found by verify")
    _check_objects(store, report, fix)
    for folder in iter_namespace_folders(store.folder):
        _check_namespace(store, folder, report, fix)
    now = time.time()
    for path in iter_temporaries(store.folder):
        if age_s(path, now) >= grace_s:
            report.problems.append(
                Problem(path, "stray-temporary", "left by an interrupted writer")
            )
            if fix:
                with translate_write_errors(store.folder, "fix problems found by verify"):
                    _remove(path)
                report.fixed.append(path)
    return report


def _check_objects(store: Store, report: VerifyReport, fix: bool) -> None:
    quarantined = False
    try:
        for path in store.objects.iter_paths():
            if path.name.startswith("."):
                continue
            report.objects_checked += 1
            problem = _object_problem(path)
            if problem is not None:
                report.problems.append(problem)
                if fix:
                    report.fixed.append(_quarantine(store, path))
                    quarantined = True
    finally:
        if quarantined:  # readers keeping maps of these files look at the files again
            generations.renew(str(store.folder / OBJECTS_DIR))


def _object_problem(path: Path) -> Problem | None:
    digest, suffix = object_path_to_digest(path)
    try:
        if path.is_dir():
            actual, _ = tree_digest(path)
        else:
            with open(path, "rb") as handle:
                actual = digest_bytes(handle.read())
    except OSError as err:
        return Problem(path, "unreadable", f"cannot read the object ({err})")
    if actual == digest:
        return None
    if suffix == ".npy" and _npy_is_short(path):
        return Problem(path, "truncated", "the .npy file is shorter than its header declares")
    return Problem(path, "corrupt", f"content digest is {actual}, expected {digest}")


def _npy_is_short(path: Path) -> bool:
    """Whether the file is shorter than its (readable) header declares."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        try:
            header = npy.read_header(handle)
        except ValueError:
            return size < 128  # too short to hold any header: cut, rather than damaged
        return size < header.data_offset + header.data_size


def _check_namespace(store: Store, folder: Path, report: VerifyReport, fix: bool) -> None:
    table = EntryTable(folder)
    _check_packs(store, folder, report, fix)
    for name in table.loose.names():
        try:
            table.loose.read_file(name)
        except CorruptArtifactError as err:  # a newer format is no damage: it propagates
            path = folder / "entries" / name
            kind: ProblemKind = "truncated" if "truncated" in str(err) else "corrupt"
            report.problems.append(Problem(path, kind, str(err)))
            if fix:
                report.fixed.append(_quarantine(store, path))
    writer = EntryTable(folder, durable=store.durable)
    # damaged records and packs were reported above: the readable entries are checked too
    for entry in table.iter_entries(damaged=[]):
        report.entries_checked += 1
        if entry.status == "deleted":
            continue
        missing = [ref for ref in entry.objects if not store.objects.exists(ref)]
        if missing:
            names = ", ".join(f"{ref.digest}{ref.suffix}" for ref in missing)
            report.problems.append(
                Problem(folder, "missing", f"entry {entry.key!r} refers to missing objects {names}")
            )
            if fix:
                writer.put(new_entry(entry.key, "deleted", "", 0, Encoded(None)))
                report.fixed.append(folder)


def _check_packs(store: Store, folder: Path, report: VerifyReport, fix: bool) -> None:
    packs = folder / "packs"
    if not packs.is_dir():
        return
    for path in sorted(packs.iterdir()):
        if path.name.startswith("."):
            continue
        try:
            for _ in Pack.open(path, check_index=True):  # (says what part is damaged)
                pass
            with open(path, "rb") as handle:
                data = handle.read()
            expected = path.stem.removeprefix("pack-")
            if digest_bytes(data) != expected:
                raise CorruptArtifactError(path, "pack content does not match its name")
        except (CorruptArtifactError, OSError) as err:
            report.problems.append(Problem(path, "corrupt", str(err)))
            if fix:
                report.fixed.append(_quarantine(store, path))


def _quarantine(store: Store, path: Path) -> Path:
    """Move ``path`` out of the way, under ``root/quarantine`` (kept for inspection)."""
    target = store.folder / QUARANTINE_DIR / f"{time.time_ns()}-{path.name}"
    with translate_write_errors(store.folder, "fix problems found by verify"):
        os.makedirs(target.parent, exist_ok=True)
        os.rename(path, target)
    return path


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
