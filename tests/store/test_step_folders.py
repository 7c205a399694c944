"""Contract of ``exca.store.step_folders``: the names inside a step folder, cell paths within
their budget, and one store and namespace per folder per process, never shared with a
forked child (a child must not publish through its parent's write buffers)."""

from __future__ import annotations

import os
from pathlib import Path

from exca.store import step_folders


def test_the_names_inside_a_step_folder_have_one_home() -> None:
    cell = "type=Mult,coeff=3-1a2b3c4d"
    assert step_folders.cache_relpath(cell) == f"{cell}/cache"
    assert step_folders.config_relpath(cell) == f"{cell}/config.json"
    assert step_folders.jobs_relpath(cell) == f"{cell}/jobs"
    assert step_folders.logs_folder(Path("/r"), cell) == Path(f"/r/{cell}/logs/%j")


def test_a_long_pipeline_gets_a_cell_path_within_its_budget() -> None:
    configs = [{"type": f"Step{i}", "field": "x" * 80} for i in range(20)]
    path = step_folders.cell_path(configs)
    assert len(path) <= step_folders.MAX_CELL_PATH_LENGTH
    assert path.startswith(step_folders.segment(configs[0]))
    assert step_folders.cell_path(configs[:19]) != step_folders.cell_path(configs)


def test_one_store_per_folder_in_a_process_and_a_new_one_in_a_forked_child(
    tmp_path: Path,
) -> None:
    store = step_folders.shared_store(tmp_path)
    assert step_folders.shared_store(str(tmp_path)) is store
    namespace = step_folders.shared_namespace(store, "cell/cache")
    assert step_folders.shared_namespace(store, "cell/cache") is namespace
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own store and namespace objects
        try:
            child_store = step_folders.shared_store(tmp_path)
            fresh = child_store is not store
            fresh = (
                fresh and step_folders.shared_namespace(child_store, "cell/cache") is not namespace
            )
            os.write(write, b"1" if fresh else b"0")
        finally:
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    assert step_folders.shared_store(tmp_path) is store  # the parent's stay as they were
