"""Contract: a read folder (a layer beneath a store) must be a store (issue 9).

A read folder that does not exist, is not a store or has a newer format is refused when
the store is opened, naming that folder, and nothing is created anywhere: a mistyped
path must not turn every lookup into a silent miss.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exca.store import CacheDict, FormatVersionError, ReadFolderError, Store


@pytest.mark.parametrize("kind", ["missing", "plain folder"])
def test_a_read_folder_that_is_no_store_is_refused_naming_it(tmp_path: Path, kind: str) -> None:
    read_folder = tmp_path / "team"
    if kind == "plain folder":
        read_folder.mkdir()
    says = "does not exist" if kind == "missing" else "is not an exca store"
    for attempt in (
        lambda: Store(tmp_path / "mine", layers=[read_folder]),
        lambda: CacheDict(tmp_path / "mine" / "cache", layers=[read_folder]),
    ):
        with pytest.raises(ReadFolderError, match=f"read folder {read_folder} {says}") as info:
            attempt()
        assert isinstance(info.value, FileNotFoundError)
    assert not (tmp_path / "mine").exists()


def test_a_read_folder_of_a_newer_format_is_refused_naming_it(tmp_path: Path) -> None:
    read_folder = tmp_path / "team"
    Store(read_folder).namespace("x").put("k", 1)
    (read_folder / "exca-store.json").write_text(json.dumps({"version": "2.0"}))
    with pytest.raises(FormatVersionError, match=f"store {read_folder} has format 2.0"):
        Store(tmp_path / "mine", layers=[read_folder])
    assert not (tmp_path / "mine").exists()
