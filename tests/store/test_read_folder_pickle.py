"""Contract: pickle-coded entries of read folders can be refused (issue 9).

Unpickling a file runs the code it names, so an entry someone else wrote in pickle is
as trustworthy as they are. ``read_folder_pickle="refuse"`` (``Store``, ``CacheDict``)
or ``EXCA_READ_FOLDER_PICKLE=refuse`` serves a read folder's pickle-coded entries
(values and cached errors) as misses, with one warning per read folder naming it;
every other entry is served, and the user's own folder is not affected.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from exca.store import CacheDict, Store


class Planted:
    """Unpickling it creates a file: what a hostile pickle could do instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return pathlib.Path.touch, (self.marker,)


@pytest.fixture
def team(tmp_path: Path) -> Path:
    root = tmp_path / "team"
    namespace = Store(root).namespace("features")
    namespace.put("planted", Planted(tmp_path / "code-ran"), codec="pickle")
    namespace.put("plain", {"x": [1, 2]})
    namespace.put_error("failed", ValueError("boom"))  # errors are pickle-coded too
    return root


def _refusing(tmp_path: Path, team: Path) -> Store:
    return Store(tmp_path / "mine", layers=[team], read_folder_pickle="refuse")


def test_refused_pickle_entries_are_misses_and_run_no_code(tmp_path: Path, team: Path) -> None:
    namespace = _refusing(tmp_path, team).namespace("features")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert namespace.entry("planted") is None and namespace.entry("failed") is None
        assert sorted(namespace.entries(["planted", "plain", "failed"])) == ["plain"]
        assert sorted(namespace.keys()) == ["plain"]
        assert namespace.load(namespace.entry("plain")) == {"x": [1, 2]}  # type: ignore[arg-type]
    assert not (tmp_path / "code-ran").exists()
    (warning,) = caught
    assert f"read folder {team} " in str(warning.message)
    assert f"computed into {tmp_path / 'mine' / 'features'}" in str(warning.message)


def test_a_value_computed_into_the_own_folder_shadows_the_refused_one(
    tmp_path: Path, team: Path
) -> None:
    cache = CacheDict(tmp_path / "mine" / "features", root=tmp_path / "mine", layers=[team],
                      read_folder_pickle="refuse")  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cache.get_many(["planted", "plain"], default="miss") == ["miss", {"x": [1, 2]}]
        cache["planted"] = {"recomputed": True}  # pickle from one's own folder is fine
        assert cache["planted"] == {"recomputed": True}
    assert not (tmp_path / "code-ran").exists()


def test_by_default_read_folders_are_trusted_and_their_pickles_run(
    tmp_path: Path, team: Path
) -> None:
    namespace = Store(tmp_path / "mine", layers=[team]).namespace("features")
    namespace.load(namespace.entry("planted"))  # type: ignore[arg-type]
    assert (tmp_path / "code-ran").exists()  # why the docs warn, and the setting exists
    assert isinstance(namespace.load_error(namespace.entry("failed")), ValueError)  # type: ignore[arg-type]


def test_the_environment_variable_refuses_with_one_warning_per_read_folder(
    tmp_path: Path, team: Path
) -> None:
    script = (
        "import sys; from exca.store import Store\n"
        "ns = Store(sys.argv[1], layers=[sys.argv[2]]).namespace('features')\n"
        "for _ in range(3):\n"
        "    assert ns.entry('planted') is None and ns.entry('failed') is None\n"
        "assert Store(sys.argv[1], layers=[sys.argv[2]]).namespace('features').entry('plain')\n"
    )
    env = {"EXCA_READ_FOLDER_PICKLE": "refuse", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-W", "always", "-c", script, str(tmp_path / "mine"), str(team)],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("RuntimeWarning: refusing pickle-coded entries") == 1
    assert not (tmp_path / "code-ran").exists()


def test_an_unknown_setting_is_refused_naming_where_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="read_folder_pickle must be one of"):
        Store(tmp_path, read_folder_pickle="never")  # type: ignore[arg-type]
    monkeypatch.setenv("EXCA_READ_FOLDER_PICKLE", "no")
    with pytest.raises(ValueError, match="EXCA_READ_FOLDER_PICKLE"):
        Store(tmp_path)
