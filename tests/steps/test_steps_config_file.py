"""Contract: each step folder holds a readable ``config.json`` (every config of its cell,
defaults included, type first), and the changed-default check of defect 1 reads it."""

from __future__ import annotations

import json
import logging
import typing as tp
from pathlib import Path

import pytest

from exca.steps import Chain, Step, _config_record
from exca.steps.errors import DefaultChangedError


class FileScale(Step):
    coeff: float = 2.0
    offset: int = 0

    def _run(self, value: float) -> float:
        return value * self.coeff + self.offset


class FileAdd(Step):
    value: int = 1

    def _run(self, x: float) -> float:
        return x + self.value


def cached(folder: Path) -> dict[str, tp.Any]:
    return {"backend": "Cached", "folder": folder}


def test_the_step_folder_holds_a_json_config_with_defaults_and_type_first(
    tmp_path: Path,
) -> None:
    step = FileScale(offset=1, infra=cached(tmp_path))  # type: ignore[arg-type]
    assert step.run(1.0) == 3.0
    text = (step.lookup(1.0).paths.step_folder / "config.json").read_text(encoding="utf-8")
    assert "\n  " in text  # indented for humans
    [config] = json.loads(text)["steps"]
    assert config == {"type": "FileScale", "coeff": 2.0, "offset": 1}
    assert next(iter(config)) == "type"


def test_a_downstream_cell_records_every_step_of_its_pipeline_in_order(tmp_path: Path) -> None:
    chain = Chain(steps=[FileScale(), FileAdd(infra=cached(tmp_path))])  # type: ignore[arg-type]
    assert chain.run(1.0) == 3.0
    folder = chain.lookup(1.0).paths.step_folder
    configs = json.loads((folder / "config.json").read_text())["steps"]
    assert configs == [
        {"type": "FileScale", "coeff": 2.0, "offset": 0},
        {"type": "FileAdd", "value": 1},
    ]


def _forget_checks_as_a_new_process_would() -> None:
    """A process checks a step folder's file once; class defaults only change between
    processes, which these tests play within one."""
    _config_record._CONSISTENT.clear()


def test_the_default_check_reads_the_file(tmp_path: Path) -> None:
    FileScale(infra=cached(tmp_path)).run(1.0)  # type: ignore[arg-type]
    [path] = tmp_path.rglob("config.json")
    record = json.loads(path.read_text())
    record["steps"][0]["coeff"] = 5.0  # as if the results had been computed with coeff=5
    path.write_text(json.dumps(record))
    _forget_checks_as_a_new_process_would()
    with pytest.raises(DefaultChangedError, match=r"FileScale\.coeff changed from 5\.0 to 2\.0"):
        FileScale(infra=cached(tmp_path)).run(1.0)  # type: ignore[arg-type]


def test_a_damaged_config_file_costs_only_the_check_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    FileScale(infra=cached(tmp_path)).run(1.0)  # type: ignore[arg-type]
    [path] = tmp_path.rglob("config.json")
    path.write_text("{not json")
    _forget_checks_as_a_new_process_would()
    with caplog.at_level(logging.WARNING):
        assert FileScale(infra=cached(tmp_path)).run(1.0) == 2.0  # type: ignore[arg-type]
        assert FileScale(infra=cached(tmp_path)).run(2.0) == 4.0  # type: ignore[arg-type]
    assert any("config.json" in record.message for record in caplog.records)
    assert path.read_text() == "{not json"  # not rewritten: the old values stay unknown


class FileStage(Step, discriminator_key="stage"):
    pass


def test_a_custom_discriminator_is_first_in_the_file_and_names_the_changed_default(
    tmp_path: Path,
) -> None:
    class Level(FileStage):
        n: int = 1

        def _run(self, x: int) -> int:
            return x + self.n

    Level(infra=cached(tmp_path)).run(1)  # type: ignore[arg-type]
    [path] = tmp_path.rglob("config.json")
    assert json.loads(path.read_text())["steps"] == [{"stage": "Level", "n": 1}]

    class Level(FileStage):  # type: ignore[no-redef]  # the default edited
        n: int = 2

        def _run(self, x: int) -> int:
            return x + self.n

    with pytest.raises(DefaultChangedError, match=r"Level\.n changed from 1 to 2"):
        Level(infra=cached(tmp_path)).run(1)  # type: ignore[arg-type]


def test_later_misses_of_one_instance_do_not_rewrite_the_config_record(tmp_path: Path) -> None:
    step = FileScale(offset=1, infra=cached(tmp_path))  # type: ignore[arg-type]
    assert step.run(1.0) == 3.0
    (config,) = tmp_path.rglob("config.json")
    first = config.stat()
    assert step.run(2.0) == 5.0 and list(step.run_many([3.0, 4.0])) == [7.0, 9.0]
    again = config.stat()  # (a rewrite publishes a new file: another inode)
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
