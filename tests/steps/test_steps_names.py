"""Contract: configs and step folders name a step class by its name only, so two classes of
one name in different modules are told apart where they could be confused (dispatch, a
step folder's results), and errors list as known only the names a config can choose."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import textwrap
import typing as tp
from pathlib import Path

import pydantic
import pytest

from exca.steps import Step
from exca.steps.errors import StepClassConflictError

_MODULE = """
from exca.steps import Step


class TwinLoad(Step):
    path: str = "data"

    def _run(self, value: int) -> int:
        return value {operation}
"""


@pytest.fixture
def twins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tp.Iterator[list[type[Step]]]:
    """``lab_a.TwinLoad`` and ``lab_b.TwinLoad``: one name, other results."""
    for name, operation in [("lab_a", "+ 1"), ("lab_b", "* 100")]:
        (tmp_path / f"{name}.py").write_text(_MODULE.format(operation=operation))
    monkeypatch.syspath_prepend(str(tmp_path))
    import lab_a  # type: ignore[import-not-found]
    import lab_b  # type: ignore[import-not-found]

    yield [lab_a.TwinLoad, lab_b.TwinLoad]
    for name in ("lab_a", "lab_b"):
        monkeypatch.delitem(sys.modules, name)
    del lab_a, lab_b
    gc.collect()  # the classes leave the registry of Step subclasses


def test_a_step_folder_written_by_one_class_refuses_another_class_of_that_name(
    twins: list[type[Step]], tmp_path: Path
) -> None:
    first, second = twins
    infra = {"backend": "Cached", "folder": tmp_path / "cache"}
    assert first(infra=infra).run(1) == 2
    with pytest.raises(StepClassConflictError) as info:
        second(infra=infra).run(1)
    message = str(info.value)
    assert "lab_a:TwinLoad" in message and "lab_b:TwinLoad" in message
    assert "Rename one of them" in message
    folder = first(infra=infra).lookup(1).paths.step_folder
    assert json.loads((folder / "config.json").read_text())["classes"] == ["lab_a:TwinLoad"]
    assert second(infra={**infra, "mode": "force"}).run(1) == 100  # force takes the folder over
    with pytest.raises(StepClassConflictError, match="holds the results of lab_b:TwinLoad"):
        first(infra=infra).run(1)


def test_a_script_run_as_main_reads_the_results_of_its_module(
    twins: list[type[Step]], tmp_path: Path
) -> None:
    twins[0](infra={"backend": "Cached", "folder": tmp_path / "cache"}).run(1)
    script = textwrap.dedent(_MODULE.format(operation="+ 1")) + textwrap.dedent(f"""
        infra = {{"backend": "Cached", "folder": {str(tmp_path / "cache")!r}}}
        assert TwinLoad(infra=infra).lookup(1).status == "success"
        print(TwinLoad(infra=infra).run(1))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "2\n"


def test_dispatching_a_name_of_two_classes_names_both(twins: list[type[Step]]) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        Step.model_validate({"type": "TwinLoad", "path": "x"})
    message = str(info.value)
    assert "'TwinLoad' is ambiguous" in message
    assert "lab_a.TwinLoad" in message and "lab_b.TwinLoad" in message
    with pytest.raises(pydantic.ValidationError) as info:
        Step.model_validate({"type": "TwinLoadd"})
    assert "unknown type 'TwinLoadd'" in str(info.value)
    assert "TwinLoad'" not in str(info.value).partition("known:")[2]


def test_unknown_names_list_only_the_classes_a_config_can_choose() -> None:
    class Concrete(Step):
        def _run(self, value: int) -> int:
            return value

    with pytest.raises(pydantic.ValidationError) as info:
        Concrete.model_validate({"type": "Concrete", "infra": {"backend": "Nope"}})
    known = str(info.value).partition("known: ")[2].partition("]")[0] + "]"
    expected = ["Auto", "Cached", "LocalProcess", "ProcessPool", "Slurm", "SubmititDebug"]
    assert known == repr([*expected, "ThreadPool"])
    with pytest.raises(pydantic.ValidationError) as info:
        Step.model_validate({"type": "Nope"})
    known = str(info.value).partition("known: ")[2]
    assert "'Concrete'" in known and "'Step'" not in known and "'_" not in known


def test_a_class_defined_again_in_its_module_is_the_one_a_config_names() -> None:
    class Redone(Step):
        def _run(self) -> str:
            return "old"

    old = Redone  # still alive, as the class of a notebook cell run before

    class Redone(Step):  # type: ignore[no-redef]
        def _run(self) -> str:
            return "new"

    assert type(Step.model_validate({"type": "Redone"})) is Redone is not old
    assert Step.model_validate({"type": "Redone"}).run() == "new"
