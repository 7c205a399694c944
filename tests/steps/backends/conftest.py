"""Makes ``backend_steps`` importable here and in every worker process or job."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
os.environ["PYTHONPATH"] = os.pathsep.join(
    [HERE, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
)

# imported by name only (never as a second module under another name by doctest collection:
# two modules defining one step class make its name ambiguous)
collect_ignore = ["backend_steps.py"]


@pytest.fixture
def calls(tmp_path: Path) -> str:
    """A folder where ``Record`` steps note each computation (read with ``calls_of``)."""
    folder = tmp_path / "calls"
    folder.mkdir()
    return str(folder)
