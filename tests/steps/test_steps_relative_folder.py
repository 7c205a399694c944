"""A relative ``infra.folder`` means the folder under the working directory of the step
that uses it, even after the process changed directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from exca.steps import Step


class Echo(Step):
    def _run(self, value: int) -> int:
        return value


def test_a_relative_folder_follows_the_working_directory_of_each_new_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        step = Echo(infra={"backend": "Cached", "folder": "cache"})  # type: ignore[arg-type]
        assert step.run(7) == 7
        handle = step.lookup(7)
        assert handle.status == "success"
        assert handle.paths.step_folder.is_dir()
        assert (tmp_path / name) in handle.paths.step_folder.resolve().parents
