"""Contract of a pack's key index (``exca.store.pack_index``): its search by numpy and its
search by the standard library (used while numpy is not imported) find exactly the same
rows, one digest at a time and in bulk, dense and sparse, on packs built as exca builds
them and on indexes rebuilt in memory, edge digests included; and both match an
independent oracle (a dict of what was packed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exca.store.codecs.base import Encoded
from exca.store.entries import key_digest, new_entry
from exca.store.entry_table import EntryTable
from exca.store.pack_index import ROW, PackIndex
from exca.store.packs import Pack, build_pack

EDGES = [
    bytes(16),  # every byte NUL: numpy's S16 scalars drop trailing NULs
    bytes(15) + b"\x01",
    b"\x01" + bytes(15),
    bytes([1] * 8 + [0] * 8),  # these three share their first 8 bytes
    bytes([1] * 8 + [7] * 8),
    bytes([1] * 8 + [255] * 8),
    b"\x7f" + b"\xff" * 15,
    b"\x80" + bytes(15),  # the first byte's sign bit: unsigned order
    b"\xff" * 16,
]


def _pack(folder: Path, digests: list[bytes]) -> Pack:
    path = folder / f"pack-{len(digests)}-{key_digest(repr(digests)).hex()}.pack"
    path.write_bytes(build_pack([(d, b"record of " + d) for d in digests]))
    return Pack.open(path)


def _oracle(digests: list[bytes], query: list[bytes]) -> tuple[list[int], list[bytes]]:
    stored = {d: b"record of " + d for d in digests}
    positions = [p for p, d in enumerate(query) if d in stored]
    return positions, [stored[query[p]] for p in positions]


def assert_both_searches_agree(pack: Pack, digests: list[bytes], query: list[bytes]) -> None:
    index = pack.index
    expected = _oracle(digests, query)
    by_numpy, by_stdlib = index.find_many_with_numpy(query), index.find_many_without_numpy(query)
    assert by_numpy == by_stdlib
    assert by_stdlib[0] == expected[0] and by_stdlib[2] == list(map(len, expected[1]))
    one_by_one = [(index.find_with_numpy(d), index.find_without_numpy(d)) for d in query]
    assert all(a == b for a, b in one_by_one)
    assert [p for p, (row, _) in enumerate(one_by_one) if row is not None] == expected[0]
    assert pack.find_many(query)[:2] == expected  # (the records at the rows found)


@pytest.mark.parametrize("fillers", [0, 3, 40, 2000])  # dense and sparse, tiny to large
def test_both_searches_find_the_same_rows_for_edge_digests_present_and_absent(
    tmp_path: Path, fillers: int
) -> None:
    others = [key_digest(f"filler{i}") for i in range(fillers)]
    stored = EDGES[::2] + others
    pack = _pack(tmp_path, stored)
    absent = EDGES[1::2] + [key_digest(f"absent{i}") for i in range(5)]
    queries = [EDGES, stored, absent, absent + stored[::-1], stored[:2], [EDGES[0]] * 3, []]
    queries += [[stored[-1]], absent + [stored[0]] + absent]  # one row found
    for query in queries:
        assert_both_searches_agree(pack, stored, query)


@settings(max_examples=60, deadline=None)
@given(
    stored=st.lists(st.binary(min_size=16, max_size=16), unique=True, max_size=80),
    extra=st.lists(st.binary(min_size=16, max_size=16), max_size=20),
    picks=st.lists(st.integers(0, 200), max_size=40),
)
def test_both_searches_agree_on_generated_digests(
    tmp_path_factory: pytest.TempPathFactory,
    stored: list[bytes],
    extra: list[bytes],
    picks: list[int],
) -> None:
    pack = _pack(tmp_path_factory.mktemp("p"), stored)
    query = [stored[i % len(stored)] for i in picks] if stored else []
    assert_both_searches_agree(pack, stored, query + extra)
    assert_both_searches_agree(pack, stored, extra)


def test_both_searches_agree_on_an_index_rebuilt_in_memory(tmp_path: Path) -> None:
    stored = EDGES + [key_digest(f"k{i}") for i in range(300)]
    pack = _pack(tmp_path, stored)
    rows = sorted(pack.index.rows(), reverse=True)  # any order: the index sorts nothing
    rebuilt = b"".join(ROW.pack(*row) for row in sorted(rows))
    pack.index = PackIndex(rebuilt, 0, len(rows))  # as Pack._repair installs it
    assert_both_searches_agree(pack, stored, stored + [b"\x02" * 16])


def test_an_empty_pack_finds_nothing_by_either_search(tmp_path: Path) -> None:
    pack = _pack(tmp_path, [])
    assert_both_searches_agree(pack, [], EDGES)
    assert list(pack) == []


def test_a_table_of_several_packs_reads_the_same_records_as_a_dict_model(tmp_path: Path) -> None:
    # the bulk lookup is what run_many reads through: newest record across packs, with
    # the numpy search (this process imported numpy); test_store_imports runs it without
    table = EntryTable(tmp_path / "t")
    model: dict[str, bytes] = {}
    for part in range(3):
        entries = [(f"k{i}", f"v{part}-{i}".encode()) for i in range(part * 50, part * 50 + 120)]
        table.put_many([new_entry(k, "success", "msgpack", 1, Encoded(v)) for k, v in entries])
        model.update(entries)
    keys = [f"k{i}" for i in range(-5, 300)]
    found = EntryTable(tmp_path / "t").get_many(keys)
    assert {k: e.inline for k, e in found.items()} == model
