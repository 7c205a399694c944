"""Exceptions raised by the artifact store, each also a builtin where one means the same."""

from __future__ import annotations

__all__ = [
    "StoreError",
    "ReadOnlyStoreError",
    "CorruptArtifactError",
    "FormatVersionError",
    "UnknownCodecError",
    "CodecError",
    "NotAStoreFolderError",
    "ShareRefusedError",
    "ReadFolderError",
]


class StoreError(Exception):
    """Base class of every error raised by ``exca.store``."""


class ReadOnlyStoreError(StoreError, PermissionError):
    """An operation needed to write into a store that is read-only or not writable.

    ``advice`` says what to do in the caller's terms (a step's backend, a CacheDict,
    ``gc``, ``verify``); by default it is chosen from what was ``attempted``.
    """

    def __init__(
        self, folder: object, attempted: str, reason: str = "", advice: str | None = None
    ) -> None:
        self.folder = folder
        self.attempted = attempted
        self.reason = reason
        why = f" ({reason})" if reason else ""
        super().__init__(
            f"cannot {attempted} in store {folder}: the store is read-only{why}; "
            f"{advice or _advice_for(attempted)}"
        )


def _advice_for(attempted: str) -> str:
    if attempted == "collect garbage":
        return (
            "run gc() as a user who can write this folder, or store.gc(dry_run=True) to "
            "list what it would remove without removing it"
        )
    if attempted.startswith("fix problems"):
        return (
            "run verify() without fix=True to report the problems only, or verify(fix=True) "
            "as a user who can write this folder"
        )
    return (
        "open it writable (read_only=False) in a folder you can write, or write to "
        "another folder that reads this one through layers=[...]"
    )


class CorruptArtifactError(StoreError, ValueError):
    """Bytes read from the store do not match the digest or format they were stored with."""

    def __init__(self, path: object, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(
            f"corrupt artifact {path}: {detail}; run Store(folder).verify(fix=True) "
            "to quarantine it, or write the value again (steps recompute a damaged value "
            "automatically when they read it)"
        )


class FormatVersionError(StoreError, RuntimeError):
    """The store was written by a newer, incompatible format version."""


class UnknownCodecError(StoreError, KeyError):
    """A codec name is not registered."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class CodecError(StoreError, TypeError):
    """A value cannot be encoded by the requested (or any) codec."""


class NotAStoreFolderError(StoreError, NotADirectoryError):
    """The store folder exists but is not a directory."""


class ShareRefusedError(StoreError, PermissionError):
    """This user may not give a store folder to a group (nothing was changed)."""

    def __init__(self, folder: object, group: str, reason: str) -> None:
        self.folder = folder
        super().__init__(
            f"cannot give {folder} to group {group}: {reason}; nothing was changed "
            "(the owners of those paths, or root, can run 'exca store share' instead)"
        )


class ReadFolderError(StoreError, FileNotFoundError):
    """A read folder (layer) is missing or is not a store: refused, not a silent miss."""
