"""Every ``python`` code block of the user docs runs, in order, page by page, as one
module would (importable by its name, as a script's ``__main__`` or a notebook is)."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
PAGES = sorted(p for p in DOCS.glob("*.md") if _BLOCK.search(p.read_text()))


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_example_of_the_page_runs(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # the page runs as a module of its own, as a user's script would (pool workers find
    # its step classes by name)
    module = types.ModuleType(f"docs_{page.stem.replace('-', '_').replace('.', '_')}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    for number, match in enumerate(_BLOCK.finditer(page.read_text()), start=1):
        code = compile(match.group(1), f"{page.name} block {number}", "exec")
        exec(code, namespace)  # noqa: S102 - the docs are ours, executing them is the test
