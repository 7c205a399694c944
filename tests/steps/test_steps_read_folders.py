"""Contract: ``read_folders`` on every backend (issue 9).

Store folders searched for results after ``folder`` and never written: a hit there is
served as it is (an array memory-mapped from the read folder's file, nothing copied), a
miss is computed into ``folder``; ``lookup()`` sees every folder and says where an entry
was found; ``clear_cache()`` clears only ``folder`` and warns naming the read folder;
``force`` recomputes into ``folder``, which then shadows the read folder; read-only mode
serves every folder; a changed class default is detected against a read folder's
config; a read folder that is missing, no store or of a newer format is an error at the
first run naming it. Not part of identity; inherited with ``folder`` in chains and
nested steps.
"""

from __future__ import annotations

import json
import typing as tp
from pathlib import Path

import numpy as np
import pytest

from exca.steps import Chain, Step, _config_record, backends
from exca.steps.errors import DefaultChangedError
from exca.store import FormatVersionError, ReadFolderError

CALLS: list[tuple[str, float]] = []


class ReadEmbed(Step):
    scale: float = 1.0

    def _run(self, subject: float) -> np.ndarray:
        CALLS.append(("embed", subject))
        return np.full(1000, subject * self.scale)


class ReadOffset(Step):
    by: float = 0.5

    def _run(self, value: tp.Any) -> tp.Any:
        CALLS.append(("offset", float(value[0])))
        return value + self.by


class ReadHolder(Step):
    inner: Step

    def _run(self, value: float) -> np.ndarray:
        return self.inner.run(value)


@pytest.fixture(autouse=True)
def _fresh() -> None:
    CALLS.clear()
    _config_record._CONSISTENT.clear()  # each test plays new processes


@pytest.fixture
def team(tmp_path: Path) -> Path:
    ReadEmbed(infra={"backend": "Cached", "folder": tmp_path / "team"}).run_many([1.0, 2.0])
    CALLS.clear()
    return tmp_path / "team"


def mine(tmp_path: Path, team: Path, **fields: tp.Any) -> dict[str, tp.Any]:
    return {"backend": "Cached", "folder": tmp_path / "mine", "read_folders": [team], **fields}


def _mapped_from(folder: Path) -> bool:
    """Whether this process has memory-mapped a file of ``folder`` (values alive now)."""
    import gc

    gc.collect()  # values of earlier lines no longer referenced are unmapped
    return f" {folder}/objects/" in Path("/proc/self/maps").read_text()


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_hits_are_served_from_the_read_folder_and_misses_computed_into_folder(
    tmp_path: Path, team: Path
) -> None:
    before = _files(team)
    embed = ReadEmbed(infra=mine(tmp_path, team))
    values = list(embed.run_many([1.0, 2.0, 3.0]))
    assert [float(v[0]) for v in values] == [1.0, 2.0, 3.0] and CALLS == [("embed", 3.0)]
    assert isinstance(values[0], np.memmap) and _mapped_from(team)  # zero-copy, from there
    assert _files(team) == before  # never written
    assert not list((tmp_path / "mine").rglob("*.npy"))[1:]  # one object: item 3's
    hit, computed = embed.lookup(1.0), embed.lookup(3.0)
    assert hit.status == computed.status == "success" and hit.cached()
    assert hit.paths.cache_folder.is_relative_to(team)
    assert computed.paths.cache_folder.is_relative_to(tmp_path / "mine")
    assert float(hit.result()[0]) == 1.0
    assert sorted(hit.cache_dict.keys()) == sorted(
        h.uid for h in (hit, computed, embed.lookup(2.0))
    )
    assert embed.lookup(9.0).status is None


def test_clear_cache_clears_only_folder_and_warns_naming_the_read_folder(
    tmp_path: Path, team: Path
) -> None:
    before = _files(team)
    embed = ReadEmbed(infra=mine(tmp_path, team))
    with pytest.warns(UserWarning, match=f"in read folder {team}/.*never written"):
        embed.lookup(1.0).clear_cache()
    assert _files(team) == before and not embed.lookup(1.0).cached()
    assert float(ReadEmbed(infra=mine(tmp_path, team)).run(1.0)[0]) == 1.0
    assert CALLS == [("embed", 1.0)]
    assert (
        ReadEmbed(infra=mine(tmp_path, team))
        .lookup(1.0)
        .paths.cache_folder.is_relative_to(tmp_path / "mine")
    )


def test_force_recomputes_into_folder_which_then_shadows_the_read_folder(
    tmp_path: Path, team: Path
) -> None:
    ReadEmbed(infra=mine(tmp_path, team, mode="force")).run(2.0)
    assert CALLS == [("embed", 2.0)]
    again = ReadEmbed(infra=mine(tmp_path, team))
    assert again.lookup(2.0).paths.cache_folder.is_relative_to(tmp_path / "mine")
    value = again.run(2.0)
    assert float(value[0]) == 2.0 and CALLS == [("embed", 2.0)]
    assert _mapped_from(tmp_path / "mine") and not _mapped_from(team)


def test_read_only_mode_serves_hits_from_every_folder(tmp_path: Path, team: Path) -> None:
    ReadEmbed(infra=mine(tmp_path, team)).run(3.0)
    reader = ReadEmbed(infra=mine(tmp_path, team, mode="read-only"))
    assert [float(v[0]) for v in reader.run_many([1.0, 3.0])] == [1.0, 3.0]
    with pytest.raises(RuntimeError, match="no cached result"):
        list(reader.run_many([4.0]))


def test_a_changed_default_is_detected_against_a_read_folders_config(
    tmp_path: Path, team: Path
) -> None:
    (path,) = team.rglob("config.json")
    record = json.loads(path.read_text())
    record["steps"][0]["scale"] = 5.0  # as if the team computed with another default
    path.write_text(json.dumps(record))
    with pytest.raises(DefaultChangedError, match=f"scale changed from 5.0 to 1.0 since {team}"):
        ReadEmbed(infra=mine(tmp_path, team)).run(1.0)


@pytest.mark.parametrize("kind", ["missing", "not a store", "newer format"])
def test_a_bad_read_folder_is_an_error_at_the_first_run_naming_it(
    tmp_path: Path, team: Path, kind: str
) -> None:
    bad = {"missing": tmp_path / "absent", "not a store": tmp_path, "newer format": team}[kind]
    if kind == "newer format":
        (team / "exca-store.json").write_text(json.dumps({"version": "9.0"}))
    error = FormatVersionError if kind == "newer format" else ReadFolderError
    embed = ReadEmbed(infra=mine(tmp_path, bad))  # configs are only configs
    with pytest.raises(error, match=str(bad)):
        embed.run(1.0)
    assert CALLS == [] and not (tmp_path / "mine").exists()


def test_read_folders_are_no_part_of_identity_and_are_inherited_with_folder(
    tmp_path: Path, team: Path
) -> None:
    chain = Chain(steps=[ReadEmbed(), ReadOffset()], infra=mine(tmp_path, team))
    assert chain.steps[0].infra is None  # a step without infra computes inside the chain
    nested = ReadHolder(inner=ReadEmbed(infra={"backend": "Cached"}), infra=mine(tmp_path, team))
    assert nested.inner.infra.read_folders == [team]  # type: ignore[union-attr]
    assert float(nested.run(2.0)[0]) == 2.0 and CALLS == []  # ReadEmbed(2) from the team
    own = ReadHolder(inner=ReadEmbed(infra={"backend": "Cached", "folder": tmp_path / "x"}),
                 infra=mine(tmp_path, team))  # fmt: skip
    assert own.inner.infra.read_folders == []  # type: ignore[union-attr]
    plain = ReadEmbed(infra={"backend": "Cached", "folder": tmp_path / "mine"})
    with_read = ReadEmbed(infra=mine(tmp_path, team))
    assert plain.lookup(1.0).uid == with_read.lookup(1.0).uid
    assert backends.Cached(read_folders=[team]).read_folders == [team]
    assert ReadEmbed(infra=mine(tmp_path, team)).model_dump()["infra"]["read_folders"] == [team]


class ReadPickled(Step):
    CACHE_TYPE = "Pickle"

    def _run(self, value: float) -> dict:
        CALLS.append(("pickled", value))
        return {"value": value}


def test_refused_pickles_of_a_read_folder_are_computed_into_folder_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = tmp_path / "team"
    ReadPickled(infra={"backend": "Cached", "folder": team}).run_many([1.0, 2.0])
    CALLS.clear()
    monkeypatch.setenv("EXCA_READ_FOLDER_PICKLE", "refuse")
    step = ReadPickled(infra=mine(tmp_path, team))
    with pytest.warns(RuntimeWarning, match=f"read folder {team} ") as caught:
        assert list(step.run_many([1.0, 2.0])) == [{"value": 1.0}, {"value": 2.0}]
    assert CALLS == [("pickled", 1.0), ("pickled", 2.0)] and len(caught) == 1
    assert step.lookup(1.0).paths.cache_folder.is_relative_to(tmp_path / "mine")


@pytest.mark.parametrize("backend", ["ThreadPool", "ProcessPool"])
def test_pool_workers_serve_read_folders_and_compute_misses_into_folder(
    tmp_path: Path, team: Path, backend: str
) -> None:
    step = ReadEmbed(infra=mine(tmp_path, team, backend=backend, max_jobs=2))
    values = list(step.run_many([1.0, 2.0, 3.0, 4.0]))
    assert [float(v[0]) for v in values] == [1.0, 2.0, 3.0, 4.0]
    where = [step.lookup(s).paths.cache_folder for s in (1.0, 2.0, 3.0, 4.0)]
    assert [w.is_relative_to(team) for w in where] == [True, True, False, False]
    assert all(w.is_relative_to(tmp_path / "mine") for w in where[2:])
