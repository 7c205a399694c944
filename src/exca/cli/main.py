"""Parsing of ``exca`` arguments and the one place errors become exit statuses."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main", "parser"]

EXIT_PROBLEMS = 1  # verify: problems remain
EXIT_USAGE = 2  # bad arguments, a missing folder, not a store: one line, no traceback


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


class _UsageError(Exception):
    pass


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="exca", description="Inspect, check and share exca caches.")
    groups = top.add_subparsers(dest="group", metavar="store", required=True, parser_class=_Parser)
    store = groups.add_parser("store", help="a store folder (a step's infra.folder)")
    commands = store.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_Parser
    )
    json_flag = _Parser(add_help=False)
    json_flag.add_argument("--json", action="store_true", help="print one JSON document")
    folder = _Parser(add_help=False)
    folder.add_argument("folder", help="the store's root folder")
    common = [folder, json_flag]
    commands.add_parser("info", parents=common, help="format, counts, bytes, dedup ratio")
    ls = commands.add_parser("ls", parents=common, help="step folders, or one's entries")
    ls.add_argument("step_folder", nargs="?", help="list the entries of this step folder")
    verify = commands.add_parser("verify", parents=common, help="re-hash and check everything")
    verify.add_argument("--fix", action="store_true", help="quarantine what is damaged")
    gc = commands.add_parser("gc", parents=common, help="remove unreferenced objects")
    gc.add_argument("--dry-run", action="store_true", help="only say what would go")
    gc.add_argument("--grace", default="1h", help="keep what is younger (1d, 6h, 30m, 0s)")
    commands.add_parser("du", parents=common, help="bytes per step folder")
    share = commands.add_parser("share", parents=common, help="prepare a folder for a group")
    share.add_argument("--group", required=True, help="a group name or a numeric gid")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    try:
        options = parser().parse_args(argv)
        from . import store_commands

        return store_commands.run(options)
    except _UsageError as err:
        return _fail(str(err))
    except KeyboardInterrupt:
        return _fail("exca: interrupted")
    except (OSError, ValueError, KeyError, RuntimeError) as err:  # the store's errors too
        return _fail(f"exca: {_one_line(err)}")


def _one_line(err: BaseException) -> str:
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    return " ".join(text.split()) or type(err).__name__


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return EXIT_USAGE
