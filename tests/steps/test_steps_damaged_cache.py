"""Contract: one damaged pack file never disables a step's cache. The records that cannot
be trusted (a flipped or cut record, a damaged key index) are misses that ``run``,
``run_many`` and ``lookup`` treat as such: recomputed with one warning that counts them,
every other entry served; where nothing may be recomputed (``mode="read-only"``), only
the affected items raise, saying what to run."""

from __future__ import annotations

import logging
import typing as tp
from pathlib import Path

import pytest

from exca.steps import Step
from exca.store import CorruptArtifactError, Store

CALLS: list[int] = []
VALUES = list(range(20))


class Triple(Step):
    def _run(self, value: int) -> int:
        CALLS.append(value)
        return value * 3


def _infra(folder: Path, mode: str = "cached") -> dict[str, tp.Any]:
    return {"backend": "Cached", "folder": folder, "mode": mode}


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "flipped record":
        data[-2] ^= 0xFF
    elif how == "truncated":
        del data[-3:]
    elif how == "index cut":
        del data[40:]  # the key index cut after the header: no row can be read
    elif how == "index key":
        data[32 + 3] ^= 0xFF  # a byte of the first key digest in the index
    elif how == "index check":
        data[32 + 29] ^= 0xFF  # a byte of the first row's record checksum in the index
    elif how == "header":
        data[4] ^= 0x02  # the format field: reads as a newer format
    path.chmod(0o644)
    path.write_bytes(bytes(data))


def _cached_pack(folder: Path) -> Path:
    assert list(Triple(infra=_infra(folder)).run_many(VALUES)) == [v * 3 for v in VALUES]
    (pack,) = folder.rglob("*.pack")
    CALLS.clear()
    return pack


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("how", ["flipped record", "truncated", "index check"])
def test_run_many_recomputes_only_untrusted_records_with_one_warning_counting_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    _damage(_cached_pack(tmp_path), how)
    with caplog.at_level(logging.WARNING):
        out = list(Triple(infra=_infra(tmp_path)).run_many(VALUES))
    assert out == [v * 3 for v in VALUES]
    assert len(CALLS) == 1  # the one damaged record; the others were served
    (warning,) = _warnings(caplog)
    assert warning.startswith("1 cached record(s)") and "verify(fix=True)" in warning
    CALLS.clear()
    assert list(Triple(infra=_infra(tmp_path)).run_many(VALUES)) == out and CALLS == []


def test_run_and_lookup_of_a_damaged_record_are_a_miss_and_the_others_hits(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _damage(_cached_pack(tmp_path), "index check")
    step = Triple(infra=_infra(tmp_path))
    with caplog.at_level(logging.WARNING):
        statuses = [step.lookup(v).status for v in VALUES]
    assert statuses.count(None) == 1 and statuses.count("success") == len(VALUES) - 1
    damaged = VALUES[statuses.index(None)]
    with pytest.raises(CorruptArtifactError, match="checksum"):
        step.lookup(damaged).result()  # which never computes: the damage is an error
    assert step.lookup(VALUES[statuses.index("success")]).result() is not None
    assert all(Triple(infra=_infra(tmp_path)).run(v) == v * 3 for v in VALUES)
    assert CALLS == [damaged]
    assert Triple(infra=_infra(tmp_path)).lookup(damaged).status == "success"


def test_in_read_only_mode_only_the_damaged_item_raises_naming_what_to_run(
    tmp_path: Path,
) -> None:
    _damage(_cached_pack(tmp_path), "flipped record")
    items = iter(Triple(infra=_infra(tmp_path, "read-only")).run_many(VALUES))
    served, failed = [], []
    for value in VALUES:
        try:
            served.append(next(items))
        except CorruptArtifactError as error:
            failed.append(value)
            assert "verify(fix=True)" in "\n".join(error.__notes__)
    assert len(failed) == 1 and served == [v * 3 for v in VALUES if v not in failed]
    assert CALLS == []


def test_on_a_store_that_cannot_be_written_only_the_damaged_item_raises(
    tmp_path: Path,
) -> None:
    _damage(_cached_pack(tmp_path), "flipped record")
    step = Triple(infra=_infra(tmp_path))
    assert step.infra is not None
    step.infra._store = Store(tmp_path, read_only=True)  # as for a user who cannot write
    outcomes = []
    items = iter(step.run_many(VALUES))
    for _ in VALUES:
        try:
            outcomes.append(next(items))
        except CorruptArtifactError as error:
            outcomes.append("damaged")
            assert "the store is read-only" in "\n".join(error.__notes__)
    assert outcomes.count("damaged") == 1
    assert [o for o in outcomes if o != "damaged"] == [
        v * 3 for v, o in zip(VALUES, outcomes, strict=True) if o != "damaged"
    ]


@pytest.mark.parametrize("how", ["index key", "header"])
def test_a_damaged_key_index_or_header_is_rebuilt_from_whole_records_and_costs_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    _damage(_cached_pack(tmp_path), how)
    with caplog.at_level(logging.WARNING):
        out = list(Triple(infra=_infra(tmp_path)).run_many(VALUES))
        assert Triple(infra=_infra(tmp_path)).run(100) == 300  # a true miss: computed
    assert out == [v * 3 for v in VALUES] and CALLS == [100] and not _warnings(caplog)
    assert not Store(tmp_path).verify().ok  # the file itself stays damaged until fixed


def test_a_damaged_pack_header_is_called_damaged_and_its_records_still_served(
    tmp_path: Path,
) -> None:
    pack = _cached_pack(tmp_path)
    _damage(pack, "header")
    assert list(Triple(infra=_infra(tmp_path)).run_many(VALUES)) == [v * 3 for v in VALUES]
    assert CALLS == []  # every record checks out on its own
    report = Store(tmp_path).verify()
    (problem,) = report.problems
    assert problem.path == pack and "damaged pack header" in problem.message
    assert "upgrade" not in problem.message
    CALLS.append(-1)
    assert Triple(infra=_infra(tmp_path)).run(100) == 300  # a true miss is computed
    assert CALLS == [-1, 100]


def test_after_verify_fix_the_quarantined_records_are_recomputed_once(tmp_path: Path) -> None:
    _damage(_cached_pack(tmp_path), "flipped record")
    Store(tmp_path).verify(fix=True)
    assert list(Triple(infra=_infra(tmp_path)).run_many(VALUES)) == [v * 3 for v in VALUES]
    assert len(CALLS) == len(VALUES)  # the quarantined pack held them all
    assert Store(tmp_path).verify().ok


class Ramp(Step):
    def _run(self, value: int) -> tp.Any:
        import numpy as np

        CALLS.append(value)
        return np.arange(value, dtype=np.float64)


def test_a_backend_can_ask_for_memory_mapped_reads_to_be_re_hashed(tmp_path: Path) -> None:
    Ramp(infra=_infra(tmp_path)).run(50_000)
    (payload,) = (tmp_path / "objects").rglob("*.npy")
    data = bytearray(payload.read_bytes())
    data[-1] ^= 0xFF  # same size, same header: only a re-hash sees it
    payload.chmod(0o644)
    payload.write_bytes(bytes(data))
    CALLS.clear()
    assert Ramp(infra=_infra(tmp_path)).run(50_000)[-1] != 49_999.0  # default: header only
    assert CALLS == []
    full = Ramp(infra={**_infra(tmp_path), "verify_reads": "full"})
    assert full.run(50_000)[-1] == 49_999.0 and CALLS == [50_000]
    assert full.infra is not None and full.infra.verify_reads == "full"
    assert full.lookup(50_000).cache_dict.store.verify_reads == "full"
    other = Ramp(infra={**_infra(tmp_path), "verify_reads": "full"})
    assert other.lookup(50_000).uid == Ramp(infra=_infra(tmp_path)).lookup(50_000).uid


_CHILD = """
import sys
from exca.steps import Step
from exca.store import CorruptArtifactError

class Triple(Step):
    def _run(self, value):
        return value * 3

items = iter(Triple(infra={"backend": "Cached", "folder": sys.argv[1]}).run_many(range(20)))
for value in range(20):
    try:
        print(next(items))
    except CorruptArtifactError as error:
        notes = "\\n".join(error.__notes__)
        print("damaged", "read-only" in notes, ".tmp." in str(error) + notes)
"""


def test_a_user_who_cannot_write_the_folder_gets_every_sound_item_and_one_clear_error(
    unprivileged,
) -> None:
    """As uid 65534: the damaged item raises, saying why it cannot be recomputed there,
    with no temporary file name in the message; the other items are served."""
    import shutil
    import subprocess
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="exca-damaged-"))  # (pytest's are private)
    try:
        folder.chmod(0o755)
        _damage(_cached_pack(folder), "flipped record")
        subprocess.run(["chmod", "-R", "a+rX,go-w", str(folder)], check=True)
        out = unprivileged.run(["-c", _CHILD, str(folder)], cwd=unprivileged.env["HOME"])
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert lines.count("damaged True False") == 1
        assert [int(x) for x in lines if x[0].isdigit()] == [
            v * 3 for v, line in zip(VALUES, lines, strict=True) if line[0].isdigit()
        ]
    finally:
        shutil.rmtree(folder)


SHIFT = [0]


class Shifted(Step):
    def _run(self, value: int) -> int:
        CALLS.append(value)
        return value + SHIFT[0]


# in a new process: this one keeps the packs it opened before they were damaged
_READ_AFTER_DAMAGE = """
import importlib, sys
sys.path.insert(0, sys.argv[2])
here = importlib.import_module(sys.argv[3])  # as named in the parent: its step folder
here.SHIFT[0] = 200
infra = {"backend": "Cached", "folder": sys.argv[1]}
print(here.Shifted(infra=infra).run(0))
print(list(here.Shifted(infra=infra).run_many(here.VALUES)))
print(here.CALLS)
"""


def test_a_damaged_pack_of_a_forced_recompute_is_recomputed_never_served_from_the_older(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    SHIFT[0] = 0
    assert list(Shifted(infra=_infra(tmp_path)).run_many(VALUES)) == VALUES  # a first pack
    first = set(tmp_path.rglob("*.pack"))
    SHIFT[0] = 100
    forced = list(Shifted(infra=_infra(tmp_path, "force")).run_many(VALUES))
    assert forced == [v + 100 for v in VALUES]
    (second,) = set(tmp_path.rglob("*.pack")) - first  # the recompute: a second pack
    _damage(second, "index cut")
    root = str(Path(__file__).parents[len(__name__.split(".")) - 1])
    out = subprocess.run(
        [sys.executable, "-c", _READ_AFTER_DAMAGE, str(tmp_path), root, __name__],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    run, run_many, calls = out.stdout.splitlines()
    assert run == "200" and calls == repr(VALUES)  # each recomputed, none served old
    assert run_many == repr([200] + [v + 200 for v in VALUES[1:]])
    assert "cannot be trusted" in out.stderr and "verify(fix=True)" in out.stderr
