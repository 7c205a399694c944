"""Atomic publish under injected I/O failures (DESIGN.md, guarantee 1).

Contract pinned: when a real I/O call fails with ``EIO`` at any point of a write — the
``write`` of a file the store opened for writing, ``os.fsync`` (durable stores),
``os.replace``, ``os.rename`` or ``os.link`` — the error reaches the caller; every key
then reads as its old value, as its new value whole, or as absent if it had none; no
temporary is left beside the final files; ``verify()`` finds nothing wrong; and the next
write succeeds. Each scenario runs once cleanly to count the calls of one operation,
then once per call with that call failing (diskcache's ``test_check`` style, with the
real functions patched, not our classes).
"""

from __future__ import annotations

import builtins
import errno
import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from exca.store import CacheDict, Store
from exca.store import hashing_writer as hashing_writer_module
from exca.store import objects as objects_module
from exca.store.codecs.testing import same_value

OPS = ("write", "fsync", "replace", "rename", "link")
ABSENT = object()
_REAL_OPEN = builtins.open


class _Faults:
    """Counts calls of one I/O operation; the ``fail_at``-th raises ``OSError(EIO)``."""

    def __init__(self, op: str, fail_at: int | None = None) -> None:
        self.op = op
        self.fail_at = fail_at
        self.calls = 0
        self.log: list[tuple[str, str]] = []  # (operation, path) for the durability test

    def tick(self, op: str) -> None:
        if op != self.op:
            return
        self.calls += 1
        if self.calls == self.fail_at:
            raise OSError(errno.EIO, f"injected failure of {op} call #{self.calls}")

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in OPS[1:]:
            monkeypatch.setattr(os, name, self._wrap(name, getattr(os, name)))
        monkeypatch.setattr(builtins, "open", self._open)

    def _wrap(self, name: str, real: Callable[..., object]) -> Callable[..., object]:
        def call(*args: object, **kwargs: object) -> object:
            self.tick(name)
            target = args[1] if name in ("replace", "rename", "link") else _fd_path(args[0])
            self.log.append((name, str(target)))
            return real(*args, **kwargs)

        return call

    def _open(self, file: object, mode: str = "r", buffering: int = -1, **kwargs: object) -> object:
        writing = bool(set(mode) & set("wxa")) and "b" in mode and "+" not in mode
        if not writing or not isinstance(file, str | os.PathLike):
            return _REAL_OPEN(file, mode, buffering, **kwargs)  # type: ignore[call-overload]
        raw = _FaultyFile(file, mode, self)
        return raw if buffering == 0 else io.BufferedWriter(raw)


class _FaultyFile(io.FileIO):
    """A real file whose ``write`` goes through the fault counter first."""

    def __init__(self, file: str | os.PathLike[str], mode: str, faults: _Faults) -> None:
        super().__init__(file, mode)
        self._faults = faults

    def write(self, data: object) -> int:  # type: ignore[override]
        self._faults.tick("write")
        return super().write(data)  # type: ignore[arg-type]


def _fd_path(fd: object) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "?"


@contextmanager
def _faults(op: str, fail_at: int | None = None) -> Iterator[_Faults]:
    with pytest.MonkeyPatch.context() as patch:
        faults = _Faults(op, fail_at)
        faults.install(patch)
        yield faults


# ------------------------------------------------------------------------------ scenarios
def _array(seed: int, size: int = 30_000) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(size)


def _batch_values(count: int, seed: int) -> dict[str, object]:
    return {
        f"b{i}": _array(seed + i, 1_000) if i % 5 == 0 else (f"v{seed}", i, b"x" * i)
        for i in range(count)
    }


@dataclass
class Scenario:
    """A visible state written beforehand (``old``), then ``act`` writing ``new`` over it."""

    name: str
    act: Callable[[CacheDict], None]
    old: dict[str, object] = field(default_factory=dict)
    new: dict[str, object] = field(default_factory=dict)
    deleted: tuple[str, ...] = ()  # written, then deleted beforehand
    packs_before: int = 0  # rounds of (write one key, pack) beforehand

    def prepare(self, folder: Path) -> None:
        if not (self.old or self.deleted or self.packs_before):
            return  # the act creates the store folder itself
        cache = _open(folder)
        for key in self.deleted:
            cache[key] = "doomed"  # packed below when there are packs, deleted at the end
        for round_ in range(self.packs_before):
            cache[f"p{round_}"] = round_
            cache.namespace.pack()
        for key, value in self.old.items():
            cache[key] = value
        for key in self.deleted:
            del cache[key]

    def visible_before(self) -> dict[str, object]:
        return {**{f"p{r}": r for r in range(self.packs_before)}, **self.old}

    def allowed(self, key: str) -> list[object]:
        before = self.visible_before().get(key, ABSENT)
        return [before, self.new.get(key, before)]


def _set(key: str, value: object) -> Callable[[CacheDict], None]:
    def act(cache: CacheDict) -> None:
        cache[key] = value

    return act


def _batch(values: dict[str, object]) -> Callable[[CacheDict], None]:
    def act(cache: CacheDict) -> None:
        with cache.write():
            for key, value in values.items():
                cache[key] = value

    return act


def _pack(cache: CacheDict) -> None:
    cache.namespace.pack()


_OLD_BATCH = dict(list(_batch_values(20, seed=1).items())[::3])
SCENARIOS = [
    Scenario("array-into-new-store", _set("k", _array(2)), new={"k": _array(2)}),
    Scenario("array-over-old", _set("k", _array(2)), {"k": _array(1), "o": 1}, {"k": _array(2)}),
    Scenario("small-into-new-store", _set("k", {"v": (1, 2)}), new={"k": {"v": (1, 2)}}),
    Scenario("small-over-old", _set("k", {"v": 2}), {"k": {"v": 1}, "o": 1}, {"k": {"v": 2}}),
    Scenario("batch", _batch(_batch_values(16, 2)), _OLD_BATCH, _batch_values(16, 2), ("b1",)),
    Scenario(
        "batch-that-merges-packs",
        _batch(_batch_values(8, 2)),
        _OLD_BATCH,
        _batch_values(8, 2),
        ("b1",),
        packs_before=8,
    ),
    Scenario("pack", _pack, _OLD_BATCH, {}, ("b1", "d"), packs_before=2),
    Scenario("pack-that-merges", _pack, _OLD_BATCH, {}, ("b1", "d"), packs_before=9),
]


def _open(folder: Path, durable: bool = False) -> CacheDict:
    """Durable only where fsync calls are counted: a real fsync costs milliseconds."""
    return CacheDict(folder, durable=durable)


def _read(folder: Path, key: str) -> object:
    cache = CacheDict(folder, verify_reads="full")  # a fresh view re-hashes every object
    return cache[key] if key in cache else ABSENT


def _temporaries(folder: Path) -> list[str]:
    return sorted(
        os.path.join(here, name)
        for here, dirs, files in os.walk(folder)
        for name in dirs + files
        if name.startswith(".tmp.")
    )


def _keys(scenario: Scenario) -> set[str]:
    return {*scenario.visible_before(), *scenario.new, *scenario.deleted}


def _check_whole_and_clean(folder: Path, scenario: Scenario) -> None:
    for key in sorted(_keys(scenario)):
        got = _read(folder, key)
        allowed = scenario.allowed(key)
        assert any(same_value(got, value) for value in allowed), f"{key!r} torn or wrong: {got!r}"
    assert _temporaries(folder) == []
    report = Store(folder).verify(grace_s=0)
    assert report.ok, str(report)


def _check_next_write_succeeds(folder: Path, scenario: Scenario) -> None:
    scenario.act(_open(folder))
    expected = {**scenario.visible_before(), **scenario.new}
    for key in sorted(_keys(scenario)):
        assert same_value(_read(folder, key), expected.get(key, ABSENT)), key
    Store(folder).gc(grace_s=0)
    assert Store(folder).verify(grace_s=0).ok


def _count_calls(folder: Path, scenario: Scenario, op: str) -> int:
    scenario.prepare(folder)
    with _faults(op) as counter:
        scenario.act(_open(folder, durable=True))
    return counter.calls


# ---------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_a_write_failing_at_any_call_leaves_every_key_old_or_whole_and_no_temporary(
    tmp_path: Path, scenario: Scenario
) -> None:
    _check_failing_at_any_call(tmp_path, scenario)


@pytest.mark.parametrize("scenario", SCENARIOS[:2], ids=lambda s: s.name)
def test_a_large_array_fails_as_cleanly_at_any_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenario: Scenario
) -> None:
    """Small arrays are hashed first and written beside their final name; large ones are
    preallocated, hashed in a helper thread while written, and named only then."""
    _as_large_arrays(monkeypatch)
    _check_failing_at_any_call(tmp_path, scenario)


def _as_large_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashing_writer_module, "OVERLAP_FROM", 1)
    monkeypatch.setattr(objects_module, "_PREALLOCATE_FROM", 1)


def _check_failing_at_any_call(tmp_path: Path, scenario: Scenario) -> None:
    for op in OPS:
        calls = _count_calls(tmp_path / f"{op}-count", scenario, op)
        for n in range(1, calls + 1):
            folder = tmp_path / f"{op}-{n}"
            scenario.prepare(folder)
            with pytest.raises(OSError) as caught, _faults(op, fail_at=n):
                scenario.act(_open(folder, durable=True))
            assert caught.value.errno == errno.EIO, f"{op} call #{n}: {caught.value!r}"
            _check_whole_and_clean(folder, scenario)
            _check_next_write_succeeds(folder, scenario)


def test_every_scenario_is_exercised_by_write_fsync_and_a_rename() -> None:
    """Guards the matrix above against passing vacuously after a refactoring."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for scenario in SCENARIOS:
            counts = {op: _count_calls(Path(tmp, scenario.name, op), scenario, op) for op in OPS}
            assert counts["write"] and counts["fsync"], (scenario.name, counts)
            assert counts["replace"] + counts["rename"], (scenario.name, counts)


def test_short_writes_still_publish_whole_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class ShortFile(io.FileIO):
        def write(self, data: object) -> int:  # type: ignore[override]
            return super().write(memoryview(data).cast("B")[:1000])  # type: ignore[arg-type]

    def short_open(file: object, mode: str = "r", buffering: int = -1, **kw: object) -> object:
        if "b" in mode and set(mode) & set("wx") and buffering == 0:
            return ShortFile(file, mode)  # type: ignore[arg-type]
        return _REAL_OPEN(file, mode, buffering, **kw)  # type: ignore[call-overload]

    monkeypatch.setattr(hashing_writer_module, "_CHUNK", 4096)  # several chunks, cheaply
    monkeypatch.setattr(builtins, "open", short_open)
    values = {"array": _array(3), "small": ("s", 1), **_batch_values(6, 4)}
    cache = _open(tmp_path)
    cache["array"], cache["small"] = values["array"], values["small"]
    _batch({k: v for k, v in values.items() if k.startswith("b")})(cache)
    monkeypatch.undo()
    for key, value in values.items():
        assert same_value(_read(tmp_path, key), value), key
    assert Store(tmp_path).verify(grace_s=0).ok


def test_an_array_written_in_many_chunks_survives_a_failure_at_each_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hashing_writer_module, "_CHUNK", 4096)  # 60 chunk writes for 240 KB
    scenario = Scenario("chunks", _set("k", _array(5)), {"k": _array(6)}, {"k": _array(5)})
    calls = _count_calls(tmp_path / "count", scenario, "write")
    assert calls > 50
    for n in range(1, calls + 1, 7):
        folder = tmp_path / str(n)
        scenario.prepare(folder)
        with pytest.raises(OSError), _faults("write", fail_at=n):
            scenario.act(_open(folder, durable=True))
        _check_whole_and_clean(folder, scenario)


def test_a_failed_put_back_during_packing_does_not_lose_a_newer_record(tmp_path: Path) -> None:
    """A packer that claims a loose record and finds a newer one in its place puts it back
    with ``os.link``; if that link fails, the newer (acknowledged) record must survive
    (renamed back to its free place)."""
    cache = _open(tmp_path)
    cache["k"] = "packed"
    intruder = _open(tmp_path)
    real_rename = os.rename

    def rename_after_a_newer_write(src: object, dst: object) -> None:
        if Path(str(src)).parent.name == "entries" and "k" in intruder and intruder["k"] != "new":
            intruder["k"] = "new"  # lands between the packer's read and its claim
        real_rename(src, dst)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "rename", rename_after_a_newer_write)
        with _faults("link", fail_at=1) as faults:
            cache.namespace.pack()
    assert faults.calls >= 1  # the put-back's link was attempted, and failed
    assert _read(tmp_path, "k") == "new"
    assert not [p for p in (tmp_path / "entries").iterdir() if p.name.startswith(".tmp.")]


@pytest.mark.parametrize("large", [False, True], ids=["small-arrays", "large-arrays"])
def test_a_durable_store_fsyncs_every_folder_it_renames_a_file_into(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, large: bool
) -> None:
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd to name fsynced descriptors")
    if large:
        _as_large_arrays(monkeypatch)
    cache = _open(tmp_path, durable=True)
    with _faults("none") as recorder:
        cache["array"] = _array(7)
        cache["small"] = 1
        _batch(_batch_values(10, 8))(cache)
        cache.namespace.pack()
    log = recorder.log
    for position, (op, target) in enumerate(log):
        name = Path(target).name  # the format marker is rewritten when lost: not synced
        if op in OPS[2:] and not name.startswith(".tmp.") and name != "exca-store.json":
            later = {path for name, path in log[position + 1 :] if name == "fsync"}
            assert str(Path(target).parent) in later, f"{target} published, folder not synced"
