"""``exca store ...``: each subcommand asks ``exca.store`` for the facts and prints them."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from exca.store import Store
from exca.store.sharing import resolve_group, share_with_group, start_empty_store
from exca.store.usage import (
    Progress,
    disk_usage,
    list_entries,
    list_step_folders,
    open_existing_store,
    store_info,
)

from .output import human_bytes, parse_duration, print_json, print_table, progress

__all__ = ["run"]

Shown = tuple[object, Callable[[], None]]  # the JSON document, and how to print it as text


def run(options: argparse.Namespace) -> int:
    grace_s = parse_duration(options.grace) if options.command == "gc" else 0.0
    if options.command == "share":
        start_empty_store(options.folder)  # a team's new folder becomes a store to share
    store = open_existing_store(options.folder)
    maintain = _MAINTENANCE.get(options.command)
    if maintain is not None:
        return maintain(store, options, grace_s)
    with progress(f"exca store {options.command}") as ticker:
        document, show = _READS[options.command](store, options, ticker)
    if options.json:
        print_json(document)
    else:
        show()
    return 0


def _info(store: Store, options: argparse.Namespace, ticker: Progress | None) -> Shown:
    info = store_info(store, ticker)
    document = {
        "format_version": info.format_version,
        "step_folders": info.step_folders,
        "entries": info.entries,
        "objects": info.objects,
        "bytes": info.bytes,
        "dedup_ratio": round(info.dedup_ratio, 4),
    }
    rows = [(name.replace("_", " "), value) for name, value in document.items()]
    rows[4] = ("bytes", f"{info.bytes} ({human_bytes(info.bytes)})")
    return document, lambda: print_table(["store", str(store.folder)], rows)


def _ls(store: Store, options: argparse.Namespace, ticker: Progress | None) -> Shown:
    if options.step_folder is not None:
        return _ls_entries(store, options.step_folder)
    folders = list_step_folders(store, ticker)
    document = [
        {"step_folder": f.step_folder, "config": f.config, "entries": f.entries,
         "errors": f.errors, "bytes": f.bytes}
        for f in folders
    ]  # fmt: skip
    rows = [(f.step_folder, f.entries, f.errors, human_bytes(f.bytes)) for f in folders]
    header = ["step folder", "entries", "errors", "size"]
    return document, lambda: print_table(header, rows)


def _ls_entries(store: Store, step_folder: str) -> Shown:
    entries = list_entries(store, step_folder)
    document = [
            {"key": e.key, "status": e.status, "codec": e.codec, "bytes": e.bytes,
             "age_s": round(e.age_s, 3)}
        for e in entries
    ]  # fmt: skip
    rows = [(e.key, e.status, e.codec, human_bytes(e.bytes), _age(e.age_s)) for e in entries]
    header = ["key", "status", "codec", "size", "age"]
    return document, lambda: print_table(header, rows)


def _du(store: Store, options: argparse.Namespace, ticker: Progress | None) -> Shown:
    usage, total = disk_usage(store, ticker)
    document = {
        "step_folders": [
            {"step_folder": u.step_folder, "bytes": u.bytes, "shared_bytes": u.shared_bytes}
            for u in usage
        ],
        "total": total,
    }
    rows = [(u.step_folder, human_bytes(u.bytes), human_bytes(u.shared_bytes)) for u in usage]
    rows.append(("total (each object once)", human_bytes(total), ""))
    return document, lambda: print_table(["step folder", "own", "shared"], rows)


def _verify(store: Store, options: argparse.Namespace, grace_s: float) -> int:
    writable = Store(store.folder) if options.fix else store
    with progress("exca store verify"):
        report = writable.verify(fix=options.fix)
        if options.fix and report.problems:
            remaining = writable.verify()  # what fixing left: the exit status is about it
        else:
            remaining = report
    if options.json:
        problems = [{"path": str(p.path), "kind": p.kind, "message": p.message} for p in report.problems]  # fmt: skip
        print_json({"ok": remaining.ok, "problems": problems})
    else:
        print(f"{report.objects_checked} objects, {report.entries_checked} entries checked")
        for problem in report.problems:
            print(problem)
        if report.fixed:
            print(f"fixed {len(report.fixed)}; {len(remaining.problems)} problems remain")
        elif report.ok:
            print("ok")
    return 0 if remaining.ok else 1


def _gc(store: Store, options: argparse.Namespace, grace_s: float) -> int:
    writable = store if options.dry_run else Store(store.folder)
    with progress("exca store gc"):
        report = writable.gc(dry_run=options.dry_run, grace_s=grace_s)
    if options.json:
        print_json({"removed": [str(p) for p in report.removed],
                    "freed_bytes": report.freed_bytes, "dry_run": report.dry_run})  # fmt: skip
        return 0
    verb = "would remove" if options.dry_run else "removed"
    for path in report.removed:
        print(f"{verb} {path}")
    freed = "would free" if options.dry_run else "freed"
    print(f"{verb} {len(report.removed)} paths, {freed} {human_bytes(report.freed_bytes)}"
          f" ({report.kept_young} unreferenced objects kept: younger than {options.grace})")  # fmt: skip
    return 0


def _share(store: Store, options: argparse.Namespace, grace_s: float) -> int:
    gid = resolve_group(options.group)
    changes = share_with_group(store.folder, gid)
    if options.json:
        print_json({"folder": str(store.folder), "gid": gid,
                    "changed": [{"path": str(c.path), "change": c.what} for c in changes]})  # fmt: skip
        return 0
    for change in changes:
        print(f"{change.path}: {change.what}")
    print(f"{len(changes)} changes; new files follow each writer's umask: members who "
          "run 'umask 002' let the group write the folders they create")  # fmt: skip
    return 0


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


# the subcommands that only read (with a progress callback), and the others
_READS: dict[str, Callable[[Store, argparse.Namespace, Progress | None], Shown]] = {
    "info": _info,
    "ls": _ls,
    "du": _du,
}
_MAINTENANCE: dict[str, Callable[[Store, argparse.Namespace, float], int]] = {
    "verify": _verify,
    "gc": _gc,
    "share": _share,
}
