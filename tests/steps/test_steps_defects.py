"""Contract: the defects of exca 0.6.0 listed in REFERENCE-NOTES (1-7, 10) are fixed.

Each test fails on the reference behaviour.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import typing as tp
from pathlib import Path

import numpy as np
import pytest

from exca.steps import Step
from exca.steps.errors import DefaultChangedError, ItemUidCollisionError

CALLS: list[tp.Any] = []


def cached(folder: Path, **kwargs: tp.Any) -> dict[str, tp.Any]:
    return {"backend": "Cached", "folder": folder, **kwargs}


class DefectIdentity(Step):
    def _run(self, value: tp.Any) -> tp.Any:
        CALLS.append(value)
        return value


class DefectFail(Step):
    def _run(self, value: int) -> int:
        CALLS.append(value)
        if value < 0:
            raise ValueError(f"negative {value}")
        return value


def test_defect_1_a_changed_class_default_raises_naming_field_and_defaults(
    tmp_path: Path,
) -> None:
    class Scaled(Step):
        coeff: float = 2.0

        def _run(self, value: float) -> float:
            return value * self.coeff

    assert Scaled(infra=cached(tmp_path)).run(1.0) == 2.0  # type: ignore[arg-type]

    class Scaled(Step):  # type: ignore[no-redef]  # the same class, default edited
        coeff: float = 3.0

        def _run(self, value: float) -> float:
            return value * self.coeff

    with pytest.raises(DefaultChangedError, match=r"Scaled\.coeff changed from 2\.0 to 3\.0"):
        Scaled(infra=cached(tmp_path)).run(1.0)  # type: ignore[arg-type]
    assert Scaled(coeff=2.0, infra=cached(tmp_path)).run(1.0) != 3.0  # type: ignore[arg-type]
    assert Scaled(infra=cached(tmp_path, mode="force")).run(1.0) == 3.0  # type: ignore[arg-type]
    assert Scaled(infra=cached(tmp_path)).run(1.0) == 3.0  # type: ignore[arg-type]


def test_defect_2_a_cached_error_does_not_stop_the_other_items(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        DefectFail(infra=cached(tmp_path)).run(-1)  # type: ignore[arg-type]
    CALLS.clear()
    results = iter(DefectFail(infra=cached(tmp_path)).run_many([1, -1, 2]))  # type: ignore[arg-type]
    assert CALLS == [1, 2]  # the new items were computed
    assert next(results) == 1
    with pytest.raises(ValueError, match="negative -1"):
        next(results)
    assert next(results) == 2


VALUES = [
    np.float32(1.5),
    np.int64(3),
    (1, "a"),
    {"t": (1, 2), "s": {3}},
    np.array([{"a": 1}, None], dtype=object),
    np.zeros(3, dtype=[("x", "f4"), ("y", "i2")]),
    np.arange(100_000, dtype=np.float32),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_defect_3_every_written_value_reads_back_equal_with_its_type(
    value: tp.Any, tmp_path: Path
) -> None:
    DefectIdentity(infra=cached(tmp_path)).run_many([0])  # an unrelated entry first
    step = DefectIdentity(infra=cached(tmp_path))  # type: ignore[arg-type]
    step.run(value)
    back = DefectIdentity(infra=cached(tmp_path)).lookup(value).result()  # type: ignore[arg-type]
    assert type(back) is type(value) or (
        isinstance(value, np.ndarray) and isinstance(back, np.ndarray)
    )
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.tolist() == value.tolist()
    else:
        assert back == value


def test_defect_4_type_tagged_keys_keep_lookalike_inputs_apart(tmp_path: Path) -> None:
    inputs = [5, 5.0, True, [1, 2], (1, 2), {1, 2}, "x", b"x"]
    results = list(DefectIdentity(infra=cached(tmp_path)).run_many(inputs))  # type: ignore[arg-type]
    assert [type(r) for r in results] == [type(i) for i in inputs]


def test_defect_4_a_custom_uid_collision_within_a_call_is_an_error(tmp_path: Path) -> None:
    class Lossy(Step):
        def _run(self, value: float) -> float:
            return value

        def item_uid(self, value: tp.Any) -> str | None:
            return str(int(value))

    with pytest.raises(ItemUidCollisionError, match="same uid '1'"):
        Lossy(infra=cached(tmp_path)).run_many([1.2, 1.7])  # type: ignore[arg-type]
    assert list(Lossy(infra=cached(tmp_path)).run_many([1.2, 1.2])) == [1.2, 1.2]  # type: ignore[arg-type]
    assert list(Lossy().run_many([1.2, 1.7])) == [1.2, 1.7]  # no cache: no shared key


def test_defect_5_misses_cost_a_constant_number_of_index_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exca.store import Namespace

    counts = {"entries": 0, "entry": 0}
    for name in counts:
        original = getattr(Namespace, name)

        def counting(self: tp.Any, *args: tp.Any, _o: tp.Any = original, _n: str = name) -> tp.Any:
            counts[_n] += 1
            return _o(self, *args)

        monkeypatch.setattr(Namespace, name, counting)
    for n in (50, 500):
        counts.update(entries=0, entry=0)
        list(DefectIdentity(infra=cached(tmp_path)).run_many(range(n, 2 * n)))  # type: ignore[arg-type]
        assert counts["entries"] <= 3 and counts["entry"] <= 2


def test_defect_6_a_read_only_store_serves_hits_and_refuses_writes_clearly(
    tmp_path: Path,
) -> None:
    from exca.store import ReadOnlyStoreError, Store

    DefectIdentity(infra=cached(tmp_path)).run(1)  # type: ignore[arg-type]
    step = DefectIdentity(infra=cached(tmp_path))  # type: ignore[arg-type]
    assert step.infra is not None
    step.infra._store = Store(tmp_path, read_only=True)  # as for a folder one cannot write
    assert step.run(1) == 1
    with pytest.raises(ReadOnlyStoreError, match=str(tmp_path)):
        step.run(2)
    with pytest.raises(ReadOnlyStoreError):
        step.lookup(1).clear_cache()
    forced = DefectIdentity(infra=cached(tmp_path, mode="force"))  # type: ignore[arg-type]
    assert forced.infra is not None
    forced.infra._store = Store(tmp_path, read_only=True)
    with pytest.raises(ReadOnlyStoreError):
        forced.run(1)


def test_defect_7_a_damaged_payload_is_recomputed_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    array = np.arange(50_000, dtype=np.float64)
    DefectIdentity(infra=cached(tmp_path)).run(array)  # type: ignore[arg-type]
    [payload] = [p for p in (tmp_path / "objects").rglob("*") if p.is_file()]
    payload.chmod(0o644)
    payload.write_bytes(payload.read_bytes()[:1000])  # truncated by a crash or a bad disk
    CALLS.clear()
    with caplog.at_level(logging.WARNING):
        back = DefectIdentity(infra=cached(tmp_path)).run(array)  # type: ignore[arg-type]
    assert np.array_equal(back, array) and len(CALLS) == 1
    assert sum("damaged" in r.message for r in caplog.records) == 1


def test_defect_7_two_writers_of_one_payload_store_it_once(tmp_path: Path) -> None:
    class Other(Step):
        def _run(self, value: tp.Any) -> tp.Any:
            return value

    array = np.ones(100_000, dtype=np.float32)
    DefectIdentity(infra=cached(tmp_path)).run(array)  # type: ignore[arg-type]
    Other(infra=cached(tmp_path)).run(array)  # type: ignore[arg-type]
    assert len([p for p in (tmp_path / "objects").rglob("*") if p.is_file()]) == 1


def test_defect_10_import_is_fast() -> None:
    # CPU time, not wall time: other processes on a loaded machine must not fail this test
    code = "import time; t = time.process_time(); import exca.steps; print(time.process_time() - t)"
    runs = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(3)
    ]
    assert min(runs) < 0.2  # the reference takes 0.22 s (0.3 s CPU here); the target is 0.12 s


class RoStep(Step):
    def _run(self, value: int) -> int:
        return value * 10


_CHILD = """
import sys
from exca.steps import Step
from exca.store import ReadOnlyStoreError

class RoStep(Step):
    def _run(self, value):
        return value * 10

infra = {"backend": "Cached", "folder": sys.argv[1]}
print("hit", RoStep(infra=infra).run(1))
attempts = {
    "miss": lambda: RoStep(infra=infra).run(2),
    "clear": lambda: RoStep(infra=infra).lookup(1).clear_cache(),
    "force": lambda: RoStep(infra={**infra, "mode": "force"}).run(1),
}
for name, attempt in attempts.items():
    try:
        attempt()
        print(name, "no error")
    except ReadOnlyStoreError as error:
        print(name, "ReadOnlyStoreError", sys.argv[1] in str(error))
"""


@pytest.mark.skipif(not Path("/usr/bin/setpriv").exists(), reason="needs setpriv")
def test_defect_6_a_user_who_cannot_write_the_folder_gets_hits_and_clear_errors(
    tmp_path: Path,
) -> None:
    import os
    import tempfile

    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged user")
    folder = Path(tempfile.mkdtemp(prefix="exca-ro-"))
    folder.chmod(0o755)
    RoStep(infra=cached(folder)).run(1)  # type: ignore[arg-type]
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    before = sorted((p, p.stat().st_mtime_ns) for p in folder.rglob("*"))
    command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    out = subprocess.run(
        [*command, sys.executable, "-c", _CHILD, str(folder)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:4] == [
        "hit 10",
        "miss ReadOnlyStoreError True",
        "clear ReadOnlyStoreError True",
        "force ReadOnlyStoreError True",
    ]
    assert (
        sorted((p, p.stat().st_mtime_ns) for p in folder.rglob("*")) == before
    )  # reads wrote nothing
    import shutil

    shutil.rmtree(folder)
