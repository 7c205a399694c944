"""Contract (property based): run_many equals a plain map, in order, with or without cache."""

from __future__ import annotations

import tempfile
import typing as tp

from hypothesis import given, settings
from hypothesis import strategies as st

from exca.steps import Chain, Step

VALUES = st.one_of(
    st.integers(-5, 5),
    st.floats(allow_nan=False, width=32),
    st.text(max_size=3),
    st.tuples(st.integers(0, 3)),
    st.lists(st.integers(0, 3), max_size=3),
)


class PropTag(Step):
    tag: str = "a"

    def _run(self, value: tp.Any) -> tuple[str, tp.Any]:
        return (self.tag, value)


@settings(max_examples=25, deadline=None)
@given(st.lists(VALUES, max_size=12))
def test_run_many_is_a_map_in_input_order_cached_or_not(values: list[tp.Any]) -> None:
    expected = [("b", ("a", v)) for v in values]
    assert list(Chain(steps=[PropTag(), PropTag(tag="b")]).run_many(values)) == expected
    with tempfile.TemporaryDirectory() as folder:
        infra = {"backend": "Cached", "folder": folder}
        for _ in range(2):  # computed, then read back from the store
            chain = Chain(steps=[PropTag(infra=infra), PropTag(tag="b")], infra=infra)  # type: ignore[arg-type]
            assert list(chain.run_many(values)) == expected
