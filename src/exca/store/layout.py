"""Where things live inside a store folder: object, entry, pack and temporary file names."""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path

__all__ = [
    "FORMAT_FILE",
    "OBJECTS_DIR",
    "LOOSE_DIR",
    "PACKS_DIR",
    "TEMP_PREFIX",
    "QUARANTINE_DIR",
    "CLAIMS_DIR",
    "object_path",
    "object_path_to_digest",
    "loose_entry_path",
    "loose_path_to_digest",
    "pack_path",
    "temp_path",
    "temp_name",
    "object_file",
    "is_temp_name",
    "log_file",
    "is_loose_entry_name",
    "temp_loose_entry_digest",
    "claim_name",
    "claim_name_parts",
    "spare_name",
    "local_spare_pid",
    "PIN_PREFIX",
    "pin_name",
    "pinned_object_name",
]

FORMAT_FILE = "exca-store.json"
OBJECTS_DIR = "objects"
LOOSE_DIR = "entries"
PACKS_DIR = "packs"
QUARANTINE_DIR = "quarantine"
CLAIMS_DIR = "claims"  # in a namespace folder: who computes which keys now (advisory)
CLAIMS_LOCK = "lock"  # a file in CLAIMS_DIR, held for the few system calls of a claim
SPARE_PREFIX = ".spare."  # in CLAIMS_DIR: a file a process keeps for its next claim records
TEMP_PREFIX = ".tmp."
PIN_PREFIX = ".pin."  # a reuser's marker beside an object it does not own (see gc.py)
LOGS_DIR = "logs"  # in a step folder: what its inline computations printed and logged
PACK_SUFFIX = ".pack"
_HEX = frozenset("0123456789abcdef")
_HOST = os.uname().nodename.replace(".", "_").replace(os.sep, "_")  # (= gethostname)


def object_path(root: Path, digest: str, suffix: str) -> Path:
    """``root/objects/ab/cdef…<suffix>``: two hex characters of fan-out per object."""
    return root / OBJECTS_DIR / digest[:2] / (digest[2:] + suffix)


def object_file(objects_dir: str, digest: str, suffix: str) -> str:
    """:func:`object_path` as a plain string, from the ``root/objects`` folder: the write
    path builds names as strings, as pathlib costs more there than the system calls."""
    return f"{objects_dir}{os.sep}{digest[:2]}{os.sep}{digest[2:]}{suffix}"


def object_path_to_digest(path: Path) -> tuple[str, str]:
    """Inverse of :func:`object_path`: ``(digest, suffix)`` of an object path."""
    name = path.name
    rest, dot, ext = name.partition(".")
    return path.parent.name + rest, dot + ext


def loose_entry_path(namespace: Path, key_digest: str) -> Path:
    """A loose (not yet packed) entry record: ``namespace/entries/<key digest>``.

    One flat folder: packing keeps it small, and one listing then answers a bulk lookup.
    """
    return namespace / LOOSE_DIR / key_digest


def loose_path_to_digest(path: Path) -> str:
    """Inverse of :func:`loose_entry_path`."""
    return path.name


def pack_path(namespace: Path, pack_digest: str) -> Path:
    """An immutable pack of entry records, named by the digest of its bytes."""
    return namespace / PACKS_DIR / f"pack-{pack_digest}{PACK_SUFFIX}"


def temp_path(final: Path) -> Path:
    """A temporary name beside ``final``, unique per host, process, thread and call."""
    return Path(temp_name(os.fspath(final)))


def temp_name(final: str) -> str:
    """:func:`temp_path` of a plain string path."""
    return _unique_name(final, TEMP_PREFIX)


def pin_name(final: str) -> str:
    """A marker beside the object ``final``, unique to its writer: it keeps an object
    that writer reuses (and does not own) from ``gc`` for a grace period."""
    return _unique_name(final, PIN_PREFIX)


def pinned_object_name(name: str) -> str | None:
    """The object file name a :func:`pin_name` marker protects, or None for other names."""
    if not name.startswith(PIN_PREFIX):
        return None
    rest = name[len(PIN_PREFIX) :]
    for _ in range(4):  # the unique tail: host, pid, thread, random (no dot in any)
        rest = rest.rpartition(".")[0]
    return rest or None


def _unique_name(final: str, prefix: str) -> str:
    head, sep, name = final.rpartition(os.sep)
    unique = f"{_HOST}.{os.getpid()}.{threading.get_ident()}.{_next_token()}"
    return f"{head}{sep}{prefix}{name}.{unique}"


class _Tokens:
    """The last part of unique names: a random prefix drawn once per process, then a
    counter (no system call per name; ``next`` of a count is atomic under the GIL). A
    forked child draws its own prefix, though its process id already differs."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.prefix = os.urandom(4).hex()
        self.count = itertools.count()


_TOKENS = _Tokens()
os.register_at_fork(after_in_child=_TOKENS.reset)


def _next_token() -> str:
    return f"{_TOKENS.prefix}{next(_TOKENS.count):x}"


def is_loose_entry_name(name: str) -> bool:
    """Loose entry files are named by 32 hex digits; temporaries and strays are not."""
    return len(name) == 32 and _HEX.issuperset(name)


def temp_loose_entry_digest(name: str) -> str | None:
    """The digest in the name of a temporary of a loose entry (written or claimed for
    packing), or None for any other name."""
    rest = name[len(TEMP_PREFIX) :] if name.startswith(TEMP_PREFIX) else ""
    digest = rest[:32]
    return digest if rest[32:33] == "." and is_loose_entry_name(digest) else None


def is_temp_name(name: str) -> bool:
    return name.startswith(TEMP_PREFIX)


def claim_name(token: str, beat: int) -> str:
    """A claim record's file name in ``CLAIMS_DIR``: its token and heartbeat count (a
    heartbeat renames the file, so a waiter sees it beat from a listing alone)."""
    return f"{token}.{beat}"


def claim_name_parts(name: str) -> tuple[str, int] | None:
    """Inverse of :func:`claim_name`; None for any other name (temporaries, the lock)."""
    token, dot, beat = name.partition(".")
    if not dot or len(token) != 16 or not _HEX.issuperset(token) or not beat.isdigit():
        return None
    return token, int(beat)


def spare_name() -> str:
    """A new spare's file name in ``CLAIMS_DIR``, naming its host and process (see
    ``claim_spares``); never a claim's name (:func:`claim_name_parts` gives None)."""
    return f"{SPARE_PREFIX}{_HOST}.{os.getpid()}.{os.urandom(4).hex()}"


def local_spare_pid(name: str) -> int | None:
    """The process that made the :func:`spare_name` ``name`` on this host; None for
    other names and for spares made on other hosts."""
    if not name.startswith(SPARE_PREFIX):
        return None
    host, _, rest = name[len(SPARE_PREFIX) :].partition(".")
    pid, _, tail = rest.partition(".")
    return int(pid) if host == _HOST and pid.isdigit() and tail else None


def log_file(folder: str, stream: str) -> str:
    """The log of ``stream`` (``stdout`` or ``stderr``) in ``folder`` (a step folder, as a
    relative path): ``folder/logs/main-process/log.<stream>``, as exca 0.6.0 named it."""
    return f"{folder}/{LOGS_DIR}/main-process/log.{stream}"
