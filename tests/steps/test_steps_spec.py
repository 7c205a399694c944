"""Contract: every name of spec/step-api-reference.txt exists with its documented meaning."""

from __future__ import annotations

import inspect

import pytest

import exca.steps
from exca.steps import backends, helpers, identity, items


def test_core_classes_and_step_methods_exist_with_their_signatures() -> None:
    step = exca.steps.Step
    for name in ("clone", "item_uid", "lookup", "run", "run_many", "show"):
        assert callable(getattr(step, name))
    assert list(step.model_fields) == ["infra"]
    assert step.model_fields["infra"].default is None
    lookup = inspect.signature(step.lookup).parameters
    assert lookup["_upstream"].kind is inspect.Parameter.KEYWORD_ONLY
    assert lookup["_upstream"].default == ()
    assert lookup["_uid"].default is None
    assert isinstance(lookup["value"].default, identity.NoValue)
    assert isinstance(inspect.signature(step.run).parameters["value"].default, identity.NoValue)
    assert issubclass(exca.steps.Chain, step)
    assert set(exca.steps.Chain.model_fields) == {"infra", "steps"}


def test_batched_execution_names_exist() -> None:
    assert issubclass(items.BatchProtocolError, RuntimeError)
    params = inspect.signature(items.StepItems).parameters
    assert list(params) == ["source", "uids", "upstream", "pending", "mode"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())
    assert params["mode"].default == "cached"


def test_dict_source_gives_uids_and_other_sources_require_them() -> None:
    assert items.StepItems(source={"a": 1, "b": 2}).uids == ["a", "b"]
    assert list(items.StepItems(source={"a": 1, "b": 2})) == [1, 2]
    with pytest.raises(TypeError, match="explicit uids"):
        items.StepItems(source=[1, 2])  # type: ignore[arg-type]


def test_lookup_handle_and_step_paths_exist() -> None:
    handle = backends.LookupHandle
    params = inspect.signature(handle).parameters
    assert list(params) == ["paths", "cache_dict", "backend", "uid"]
    for name in ("cached", "clear_cache", "job", "result"):
        assert callable(getattr(handle, name))
    for name in ("cache_dict", "paths", "status"):
        assert isinstance(getattr(handle, name), property)
    assert inspect.signature(handle.clear_cache).parameters["recursive"].default is True
    paths = backends.StepPaths(step_folder="a", cache_folder="a/cache")  # type: ignore[arg-type]
    assert (paths.step_folder, paths.cache_folder) == ("a", "a/cache")


# verify_reads, read_folders: beyond the reference (issues 7 and 9)
SHARED = {
    "folder": None,
    "mode": "cached",
    "keep_in_ram": False,
    "verify_reads": None,
    "read_folders": [],
}
SUBMITIT = {
    "job_name": None,
    "timeout_min": None,
    "nodes": None,
    "tasks_per_node": None,
    "cpus_per_task": None,
    "gpus_per_node": None,
    "mem_gb": None,
    "max_jobs": 128,
    "min_items_per_job": 1,
}
SLURM = {
    "constraint": None,
    "partition": None,
    "account": None,
    "qos": None,
    "additional_parameters": None,
    "use_srun": False,
}
BACKEND_FIELDS = {
    "Backend": SHARED,
    "Cached": {**SHARED, "capture_logs": False},
    "ThreadPool": {**SHARED, "max_jobs": 128},
    "ProcessPool": {**SHARED, "max_jobs": 128},
    "LocalProcess": {**SHARED, **SUBMITIT},
    "SubmititDebug": {**SHARED, **SUBMITIT},
    "Slurm": {**SHARED, **SUBMITIT, **SLURM},
    "Auto": {**SHARED, **SUBMITIT, **SLURM},
}


@pytest.mark.parametrize("name", list(BACKEND_FIELDS))
def test_each_backend_has_exactly_the_documented_fields_and_defaults(name: str) -> None:
    cls = getattr(backends, name)
    defaults = {f: info.default for f, info in cls.model_fields.items()}
    assert defaults == BACKEND_FIELDS[name]
    assert issubclass(cls, backends.Backend)


def test_auto_is_a_slurm_backend_and_max_jobs_must_be_positive() -> None:
    assert issubclass(backends.Auto, backends.Slurm)
    with pytest.raises(ValueError, match="greater than 0"):
        backends.LocalProcess(max_jobs=0)
    with pytest.raises(ValueError, match="greater than 0"):
        backends.ThreadPool(max_jobs=0)


def test_func_and_no_value_exist() -> None:
    assert issubclass(helpers.Func, exca.steps.Step)
    assert {"function", "input_param"} <= set(helpers.Func.model_fields)
    assert identity.NoValue() == identity.NoValue()


def test_import_loads_no_heavy_dependency() -> None:
    import subprocess
    import sys

    code = (
        "import sys, exca.steps; "
        "print([m for m in ('numpy', 'zarr', 'submitit', 'pandas') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
