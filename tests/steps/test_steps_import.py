"""Contract: ``import exca.steps`` leaves the pool and submitit backends undefined until one
is named, and a backend defined on demand behaves as if it had always been defined: every
name validates in a fresh process, errors list every name, name clashes are still found,
and pickled steps load where their backend was never named.

Each test runs a fresh interpreter: the test process has defined every backend already.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from exca.steps import Step
from exca.steps.backends import Backend

ON_DEMAND_MODULES = sorted(set(Backend._on_demand.values()))


def fresh(code: str, cwd: Path | None = None) -> str:
    """The stdout of ``code`` run by a fresh interpreter (which must succeed)."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=cwd
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_exca_steps_and_running_on_the_cached_backend_defines_no_other_backend(
    tmp_path: Path,
) -> None:
    out = fresh(
        f"""
        import sys
        from exca.steps import Step

        class Double(Step):
            def _run(self, value: int) -> int:
                return 2 * value

        step = Double(infra={{"backend": "Cached", "folder": {str(tmp_path)!r}}})
        assert step.run(3) == 6
        print(sorted(m for m in {ON_DEMAND_MODULES!r} if m in sys.modules))
        """
    )
    assert out == "[]"


@pytest.mark.parametrize("name", sorted(Backend._on_demand))
def test_a_backend_named_only_in_a_config_validates_in_a_fresh_process(name: str) -> None:
    out = fresh(
        f"""
        from exca.steps import Step

        class Double(Step):
            def _run(self, value: int) -> int:
                return 2 * value

        step = Step.model_validate({{"type": "Double", "infra": {{"backend": {name!r}}}}})
        print(type(step.infra).__name__, type(step.infra).__module__)
        """
    )
    assert out == f"{name} {Backend._on_demand[name]}"


def test_an_unknown_backend_in_a_fresh_process_lists_every_backend() -> None:
    out = fresh(
        """
        from exca.steps.backends import Cached

        try:
            Cached(folder="cache").derive("Slurmm")
        except ValueError as error:
            print(error)
        """
    )
    known = sorted(["Cached", *Backend._on_demand])
    assert out == f"unknown backend 'Slurmm' for Backend; known: {known}"


def test_a_user_backend_named_like_one_defined_on_demand_is_ambiguous_in_a_config() -> None:
    out = fresh(
        """
        from exca.steps.backends import Backend

        class Slurm(Backend):
            pass

        try:
            Backend.model_validate({"backend": "Slurm"})
        except ValueError as error:
            print("ambiguous" in str(error), "exca.steps.backends.submitit.Slurm" in str(error))
        """
    )
    assert out == "True True"


def test_backends_defined_on_demand_are_attributes_of_the_backends_module() -> None:
    out = fresh(
        """
        import exca.steps.backends as backends
        from exca.steps.backends import ProcessPool, Slurm

        print("Auto" in dir(backends), Slurm.__name__, backends.ThreadPool.__module__)
        try:
            backends.Nope
        except AttributeError as error:
            print(error)
        """
    )
    assert out.splitlines() == [
        "True Slurm exca.steps.backends.pools",
        "module 'exca.steps.backends' has no attribute 'Nope'",
    ]


class Triple(Step):
    def _run(self, value: int) -> int:
        return 3 * value


def test_a_pickled_step_loads_in_a_process_where_its_backend_was_never_named(
    tmp_path: Path,
) -> None:
    step = Triple(infra={"backend": "ProcessPool", "folder": str(tmp_path), "max_jobs": 2})
    (tmp_path / "step.pkl").write_bytes(pickle.dumps(step))
    out = fresh(
        f"""
        import pickle
        import sys

        sys.path.insert(0, {str(Path(__file__).parent)!r})
        step = pickle.loads(open({str(tmp_path / "step.pkl")!r}, "rb").read())
        print(type(step.infra).__name__, step.infra.max_jobs, step.run_many([1, 2]).__class__.__name__)
        print(list(step.run_many([1, 2])))
        """
    )
    assert out.splitlines() == ["ProcessPool 2 StepItems", "[3, 6]"]
