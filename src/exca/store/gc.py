"""``Store.gc``: remove objects no entry refers to, and old temporaries, pins and spares."""

from __future__ import annotations

import errno
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import generations
from .damage import Damage
from .entry_table import EntryTable
from .errors import CorruptArtifactError
from .layout import OBJECTS_DIR, SPARE_PREFIX, object_path_to_digest, temp_name
from .pins import pinned_objects
from .publish import translate_write_errors
from .scan import age_s, iter_claims_folders, iter_namespace_folders, iter_temporaries, path_size

if TYPE_CHECKING:
    from .store import Store

__all__ = ["GcReport", "collect_garbage"]


@dataclass(slots=True)
class GcReport:
    """What :meth:`Store.gc` removed (or would remove, with ``dry_run``)."""

    removed: list[Path] = field(default_factory=list)
    freed_bytes: int = 0
    kept_young: int = 0
    dry_run: bool = False


def collect_garbage(store: Store, *, dry_run: bool, grace_s: float) -> GcReport:
    """Objects younger than ``grace_s`` are kept even when unreferenced: a writer may be
    between publishing an object and the entry that refers to it. A writer that reuses
    an existing object refreshes its time if it owns it, or else leaves a pin beside
    it (:mod:`.pins`): a young pin keeps its object too."""
    report = GcReport(dry_run=dry_run)
    if not store.folder.is_dir():
        return report
    if not dry_run:
        store.check_can_write("collect garbage")
    referenced = _referenced_digests(store.folder)
    now = time.time()
    objects = store.folder / OBJECTS_DIR
    fans = sorted(os.scandir(objects), key=lambda e: e.name) if objects.is_dir() else []
    try:
        for fan in fans:
            if fan.is_dir() and len(fan.name) == 2:
                with translate_write_errors(store.folder, "collect garbage"):
                    _collect_fan(Path(fan.path), referenced, now, grace_s, report)
    finally:
        if report.removed and not dry_run:  # (readers keeping maps look at the files again)
            generations.renew(str(objects))
    for path in [*iter_temporaries(store.folder), *_spares(store.folder)]:
        age = _age_or_none(path, now)
        if age is not None and age >= grace_s:
            _remove(path, report, store.folder)
    return report


def _spares(root: Path) -> list[Path]:
    """Claim files that processes keep for their next claims (``claim_spares``).

    Removing one is always safe (its process creates a file for its next claim
    instead), and those of a process killed on another host are removed by nobody else;
    those of live processes of this host are left to them.
    """
    from .claim_spares import kept_by_a_live_process_here

    return [
        claims / name
        for claims in iter_claims_folders(root)
        for name in _listing(claims)
        if name.startswith(SPARE_PREFIX) and not kept_by_a_live_process_here(name)
    ]


def _listing(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):  # (removed since it was found)
        return []


def _age_or_none(path: Path, now: float) -> float | None:
    try:
        return age_s(path, now)
    except FileNotFoundError:  # (removed by its writer or process meanwhile)
        return None


def _collect_fan(
    fan: Path, referenced: set[str], now: float, grace_s: float, report: GcReport
) -> None:
    """Collect one fan-out folder: old unreferenced objects that no young pin protects.

    Each candidate is renamed aside before a second look at its time and at the pins:
    a writer protects an object first and checks its name second, so it either sees
    the object gone (and writes it again) or is seen here (and the object is put back).
    """
    names = os.listdir(fan)
    pinned, old_pins = pinned_objects(fan, names, now, grace_s)
    candidates = []
    for name in sorted(names):
        if name.startswith("."):  # temporaries and pins
            continue
        digest = object_path_to_digest(fan / name)[0]
        if digest in referenced:
            continue
        if name in pinned or age_s(fan / name, now) < grace_s:
            report.kept_young += 1
        else:
            candidates.append(fan / name)
    if report.dry_run:
        for path in candidates:
            _count(path, path, report)
    else:
        _remove_aside(fan, candidates, now, grace_s, report)
    for pin in old_pins:
        _remove(pin, report, fan.parent.parent)


def _remove_aside(
    fan: Path, candidates: list[Path], now: float, grace_s: float, report: GcReport
) -> None:
    aside = {}
    for path in candidates:
        moved = Path(temp_name(os.fspath(path)))
        try:
            os.rename(path, moved)
        except FileNotFoundError:
            continue
        aside[path] = moved
    if not aside:
        return
    pinned, _ = pinned_objects(fan, os.listdir(fan), now, grace_s)
    for path, moved in aside.items():
        if path.name in pinned or age_s(moved, now) < grace_s:
            _restore(moved, path)
            report.kept_young += 1
        else:
            _count(moved, path, report)
            _delete(moved)


def _restore(moved: Path, path: Path) -> None:
    """Put an object back; a writer may have published it again meanwhile (same bytes)."""
    try:
        os.rename(moved, path)  # a file replaces the new copy: same content, same name
    except OSError as err:
        if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):  # a folder object is not
            raise
        _delete(moved)


def _referenced_digests(root: Path) -> set[str]:
    digests: set[str] = set()
    for folder in iter_namespace_folders(root):
        damaged: list[Damage] = []
        for entry in EntryTable(folder).iter_entries(damaged):
            if entry.status != "deleted":
                digests.update(ref.digest for ref in entry.objects)
        # a zero-length or foreign file refers to nothing; a damaged record may refer to
        # any object: then removing nothing is the safe answer
        for damage in damaged:
            if damage.holds_record:
                err = CorruptArtifactError(damage.path, damage.reason)
                err.add_note(
                    "gc stopped before removing anything: run "
                    f"exca.store.Store({str(root)!r}).verify(fix=True), then gc again"
                )
                raise err
    return digests


def _count(path: Path, reported: Path, report: GcReport) -> None:
    report.removed.append(reported)
    report.freed_bytes += path_size(path)


def _delete(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _remove(path: Path, report: GcReport, root: Path) -> None:
    try:
        size = path_size(path)
        if not report.dry_run:
            with translate_write_errors(root, "collect garbage"):
                _delete(path)
    except FileNotFoundError:
        return
    report.removed.append(path)
    report.freed_bytes += size
