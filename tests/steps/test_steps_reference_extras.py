"""Contract: behaviours of exca 0.6.0 that users rely on beyond the spec's names, each
pinned by the reference's own tests: ``Backend.derive``, the deprecated mode
``"force-forward"``, ``Chain`` imported from ``exca.steps.base``, steps held in fields
(of plain pydantic models too) getting the folder, kept out of identity's infra, and
expanded by ``show()``; ``Cached(capture_logs=True)``."""

from __future__ import annotations

import logging
import sys
import typing as tp
from pathlib import Path

import pydantic
import pytest

from exca.steps import Step, backends
from exca.store import Store

CALLS: list[tp.Any] = []


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    CALLS.clear()


class Twice(Step):
    def _run(self, value: int) -> int:
        CALLS.append(value)
        return value * 2


def test_derive_builds_a_backend_with_the_shared_fields_and_overrides(tmp_path: Path) -> None:
    pool = backends.ProcessPool(folder=tmp_path, max_jobs=4, keep_in_ram=True)
    slurm = pool.derive("Slurm", partition="gpu")
    assert isinstance(slurm, backends.Slurm)
    assert (slurm.folder, slurm.max_jobs, slurm.keep_in_ram, slurm.partition) == (
        tmp_path,
        4,
        True,
        "gpu",
    )
    same = pool.derive(max_jobs=2)
    assert type(same) is backends.ProcessPool and (same.max_jobs, same.folder) == (2, tmp_path)
    cached = pool.derive("Cached")  # fields the target lacks are left behind
    assert type(cached) is backends.Cached and cached.keep_in_ram
    with pytest.raises(pydantic.ValidationError):  # overrides are validated, never dropped
        pool.derive("Cached", partition="gpu")
    for wrong in ("Nope", "Backend", "_PoolBackend"):
        with pytest.raises(ValueError, match=rf"unknown backend '{wrong}'.*'Cached'"):
            pool.derive(wrong)


def test_a_derived_backend_is_a_fresh_unfrozen_copy(tmp_path: Path) -> None:
    step = Twice(infra={"backend": "Cached", "folder": tmp_path})
    step.run(1)
    assert step.infra is not None
    forced = step.infra.derive(mode="force")
    forced.keep_in_ram = True  # not frozen, unlike the backend of a step that ran
    CALLS.clear()
    assert Twice(infra=forced).run(1) == 2 and CALLS == [1]


def test_mode_force_forward_is_force_with_a_deprecation_warning(tmp_path: Path) -> None:
    Twice(infra={"backend": "Cached", "folder": tmp_path}).run(3)
    CALLS.clear()
    with pytest.warns(DeprecationWarning, match='"force-forward" is deprecated: use "force"'):
        infra = {"backend": "Cached", "folder": tmp_path, "mode": "force-forward"}
        step = Twice(infra=infra)  # type: ignore[arg-type]
    assert step.infra is not None and step.infra.mode == "force"
    assert step.run(3) == 6 and CALLS == [3]


def test_chain_is_importable_from_the_base_module() -> None:
    from exca.steps import Chain
    from exca.steps.base import Chain as BaseChain

    assert BaseChain is Chain
    with pytest.raises(ImportError):
        from exca.steps.base import Nothing  # type: ignore[attr-defined]  # noqa: F401


class Add(Step):
    value: int = 1

    def _run(self, x: int) -> int:
        CALLS.append(("add", x))
        return x + self.value


class Params(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    inner: Step
    scale: float = 1.0


class Outer(Step):
    params: Params

    def _run(self, x: int) -> float:
        return self.params.inner.run(x) * self.params.scale


class Holder(Step):
    inner: Step
    others: list[Step] = []

    def _run(self, x: int) -> int:
        return self.inner.run(x)


def test_a_folder_propagates_into_steps_held_in_a_plain_model(tmp_path: Path) -> None:
    inner = {"type": "Add", "infra": {"backend": "Cached"}}
    outer = Outer(params={"inner": inner}, infra={"backend": "Cached", "folder": tmp_path})
    assert outer.run(1) == 2.0
    held = outer.params.inner
    assert held.infra is not None and held.infra.folder == tmp_path
    assert held.lookup(1).status == "success" and CALLS == [("add", 1)]


@pytest.mark.parametrize(
    "wrap", [lambda s: {"inner": s}, lambda s: {"params": {"inner": s}}], ids=["field", "model"]
)
def test_infra_of_a_nested_step_never_changes_the_identity(
    wrap: tp.Callable[[tp.Any], dict[str, tp.Any]], tmp_path: Path
) -> None:
    cls = Holder if "inner" in wrap(None) else Outer
    infras = [None, {"backend": "Cached"}, {"backend": "ThreadPool", "mode": "force"}]
    folders = set()
    for infra in infras:
        step = cls(
            **wrap({"type": "Add", "infra": infra}), infra={"backend": "Cached", "folder": tmp_path}
        )
        folders.add(step.lookup(1).paths.step_folder)
    (folder,) = folders
    assert "infra" not in str(folder.relative_to(tmp_path)) and "Add" in str(folder)


def test_show_expands_steps_held_in_fields_as_the_reference_does(tmp_path: Path) -> None:
    holder = Holder(inner=Add(value=3), others=[Add(value=4)])
    assert holder.show() == "\n".join(
        ["Holder", "├── inner: Add  value=3", "└── others", "    └── Add  value=4"]
    )
    outer = Outer(params={"inner": {"type": "Add"}, "scale": 2.0})
    assert outer.show() == "\n".join(["Outer", "└── params  {'scale': 2.0}", "    └── inner: Add"])


class Chatty(Step):
    def _run(self, value: str) -> str:
        print(f"stdout:{value}")
        print(f"stderr:{value}", file=sys.stderr)
        logging.getLogger("chatty").warning("logger:%s", value)
        return value.upper()


def test_capture_logs_writes_output_and_log_records_to_the_step_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    step = Chatty(infra={"backend": "Cached", "folder": tmp_path, "capture_logs": True})
    assert step.run("ice") == "ICE"
    console = capsys.readouterr()
    logs = step.lookup("ice").paths.step_folder / "logs" / "main-process"
    out, err = (logs / "log.stdout").read_text(), (logs / "log.stderr").read_text()
    assert "stdout:ice\n" in console.out and "stdout:ice\n" in out  # copied, not taken
    assert "stderr:ice\n" in console.err and "stderr:ice\n" in err
    assert "WARNING - chatty" in err and "logger:ice" in err
    assert "computing 1 item(s)" in out.splitlines()[0]
    assert step.run("ice") == "ICE" and Chatty(infra=step.infra).run("ice") == "ICE"
    assert (logs / "log.stdout").read_text() == out  # hits compute nothing, log nothing
    assert capsys.readouterr().out == ""
    Chatty(infra={"backend": "Cached", "folder": tmp_path, "capture_logs": True}).run("sea")
    assert (logs / "log.stdout").read_text().count("computing 1 item(s)") == 2  # appended
    store = Store(tmp_path)
    assert store.verify().ok and not store.gc(grace_s=0).removed
    assert (logs / "log.stderr").exists()


def test_without_capture_logs_no_log_file_is_written(tmp_path: Path) -> None:
    step = Chatty(infra={"backend": "Cached", "folder": tmp_path})
    step.run("ice")
    assert not (step.lookup("ice").paths.step_folder / "logs").exists()
