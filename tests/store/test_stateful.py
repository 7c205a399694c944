"""A store behaves like a dict under any sequence of put/get/delete/pack/gc/verify,
read through fresh views as well as the writing one (hypothesis state machine)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from exca.store import CacheDict, Store
from exca.store.codecs.testing import same_value

KEYS = st.sampled_from([f"key-{i}" for i in range(6)] + ["é/ü", ""])
VALUES = st.one_of(
    st.integers(),
    st.text(max_size=20),
    st.tuples(st.integers(), st.booleans()),
    st.integers(0, 300).map(lambda n: np.arange(n, dtype=np.float32)),
    st.binary(max_size=40),
)


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="exca-stateful-"))
        self.cache = CacheDict(self.folder / "table", root=self.folder)
        self.model: dict[str, object] = {}

    def teardown(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    @rule(key=KEYS, value=VALUES)
    def put(self, key: str, value: object) -> None:
        self.cache[key] = value
        self.model[key] = value

    @rule(items=st.lists(st.tuples(KEYS, VALUES), min_size=2, max_size=6))
    def put_in_a_batch(self, items: list[tuple[str, object]]) -> None:
        with self.cache.write():
            for key, value in items:
                self.cache[key] = value
                self.model[key] = value
                assert same_value(self.cache[key], value)  # visible inside the batch already

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        del self.cache[key]
        del self.model[key]

    @rule(key=KEYS)
    def get(self, key: str) -> None:
        if key in self.model:
            assert same_value(self.cache[key], self.model[key])
        else:
            assert key not in self.cache

    @rule()
    def pack(self) -> None:
        self.cache.namespace.pack()

    @rule()
    def collect_garbage_then_verify(self) -> None:
        Store(self.folder).gc(grace_s=0)
        report = Store(self.folder).verify()
        assert report.ok, str(report)

    @invariant()
    def a_fresh_view_sees_exactly_the_model(self) -> None:
        fresh = CacheDict(self.folder / "table", root=self.folder)
        assert sorted(fresh.keys()) == sorted(self.model)
        entries = fresh.namespace.entries(list(self.model) + ["absent"])
        assert sorted(entries) == sorted(self.model)
        for key, value in fresh.items():
            assert same_value(value, self.model[key]), key


TestStoreMachine = StoreMachine.TestCase
TestStoreMachine.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
