"""Key computation: ``exca.store.key_of`` on typical item values."""

from __future__ import annotations

import _store_workloads as w

from exca.store import key_of


class KeyOf:
    def setup(self) -> None:
        self.text = "sub-01/ses-02/run-3"
        self.number = 123_456_789
        self.pair = ("sub-01", 3, 0.5, None)
        self.array = w.make_array(1)

    def time_short_str(self) -> None:
        key_of(self.text)

    def time_int(self) -> None:
        key_of(self.number)

    def time_tuple(self) -> None:
        key_of(self.pair)

    def time_array_1mib(self) -> None:
        key_of(self.array)
