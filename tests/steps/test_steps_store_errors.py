"""Contract: store errors reach a step user in a step's terms: a folder path that runs
through a file is refused clearly, and a read-only store's advice names the infra."""

from __future__ import annotations

from pathlib import Path

import pytest

from exca.steps import Step
from exca.store import NotAStoreFolderError, ReadOnlyStoreError, Store


class Twice(Step):
    def _run(self, value: int) -> int:
        return value * 2


def test_a_folder_that_runs_through_a_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("precious")
    step = Twice(infra={"backend": "Cached", "folder": tmp_path / "afile" / "sub"})
    with pytest.raises(NotAStoreFolderError, match="runs through the file .*afile"):
        step.run(1)
    assert (tmp_path / "afile").read_text() == "precious"


def test_a_step_on_a_read_only_store_is_told_to_change_its_infra(tmp_path: Path) -> None:
    Twice(infra={"backend": "Cached", "folder": tmp_path}).run(1)
    step = Twice(infra={"backend": "Cached", "folder": tmp_path})
    assert step.infra is not None
    step.infra._store = Store(tmp_path, read_only=True)
    with pytest.raises(ReadOnlyStoreError, match="infra.folder") as info:
        step.run(2)
    assert "read_only=False" not in str(info.value)
