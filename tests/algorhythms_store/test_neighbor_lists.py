"""`track_neighbors` grouped into one row of arrays per source track, from rows read in batches."""

import numpy as np
import pytest

from algorhythms_store.neighbor_lists import NotClustered, neighbor_list_rows
from tests.catalogue import neighbor_lists


def clustered_rows(seed: int = 0, tracks: int = 60):
    """(src, dst, weight) rows with every src's rows together, srcs in no particular order,
    each list in no particular order, with tied weights."""
    rng = np.random.default_rng(seed)
    srcs = rng.permutation(tracks * 3)[:tracks]
    sizes = rng.integers(1, 12, size=tracks)
    src = np.repeat(srcs, sizes)
    dst = rng.integers(0, 500, size=len(src))
    weight = rng.choice(np.array([0.1, 0.25, 0.5, 0.9], np.float32), size=len(src))
    return src, dst, weight


def plain(src, dst, weight) -> dict:
    """src -> [(dst, weight)] heaviest first, ties by the smaller dst: by a Python sort."""
    lists = {}
    for s, d, w in zip(src.tolist(), dst.tolist(), weight.tolist(), strict=True):
        lists.setdefault(s, []).append((d, w))
    return {s: sorted(pairs, key=lambda p: (-p[1], p[0])) for s, pairs in lists.items()}


def as_lists(rows) -> list[tuple[int, list, list]]:
    return [(s, d.tolist(), w.tolist()) for s, d, w in rows]


def batched(src, dst, weight, cuts):
    bounds = [0, *cuts, len(src)]
    return [(src[a:b], dst[a:b], weight[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]


@pytest.mark.parametrize("seed", range(5))
def test_lists_from_batches_cut_anywhere_equal_a_plain_grouping(seed):
    src, dst, weight = clustered_rows(seed)
    rng = np.random.default_rng(100 + seed)
    # cuts inside lists, at their ends, empty batches and batches of one row
    cuts = sorted(rng.choice(len(src), size=25, replace=True).tolist() + [1, 2, 2])
    rows = as_lists(neighbor_list_rows(batched(src, dst, weight, cuts)))
    got = {s: list(zip(d, w, strict=True)) for s, d, w in rows}
    assert len(got) == len(rows)  # one row per source track
    assert [s for s, _, _ in rows] == list(dict.fromkeys(src.tolist()))  # in the order met
    assert got == plain(src, dst, weight)


def test_one_batch_and_rows_in_any_order_give_the_same_lists():
    src, dst, weight = clustered_rows(7)
    whole = as_lists(neighbor_list_rows([(src, dst, weight)]))
    assert {s: (d, w) for s, d, w in whole} == {
        s: tuple(map(list, zip(*pairs, strict=True)))
        for s, pairs in plain(src, dst, weight).items()
    }
    shuffled = np.random.default_rng(1).permutation(len(src))
    by_src = as_lists(neighbor_lists(src[shuffled], dst[shuffled], weight[shuffled]))
    assert by_src == sorted(whole)


def test_a_track_whose_rows_come_apart_is_an_error_not_two_rows():
    src = np.array([1, 1, 2, 1])
    dst, weight = np.arange(4), np.ones(4, np.float32)
    with pytest.raises(NotClustered, match="source track 1"):
        list(neighbor_list_rows([(src, dst, weight)]))
    # the same across batches, and when the repeat ends the stream
    with pytest.raises(NotClustered, match="source track 1"):
        list(neighbor_list_rows(batched(src, dst, weight, [2])))
    with pytest.raises(NotClustered, match="source track 3"):
        rows = (np.array([3, 4]), np.array([0, 0]), np.ones(2, np.float32))
        list(neighbor_list_rows([rows, (np.array([3]), np.array([1]), np.ones(1, np.float32))]))


def test_no_rows_give_no_lists():
    empty = (np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32))
    assert list(neighbor_list_rows([])) == []
    assert list(neighbor_list_rows([empty, empty])) == []


def test_source_ids_negative_or_past_the_bitmap_are_grouped_and_checked_too():
    big = 3_000_000_000
    src = np.array([big, big, -4, 7])
    rows = as_lists(neighbor_list_rows([(src, np.array([1, 2, 3, 4]), np.ones(4, np.float32))]))
    assert [(s, d) for s, d, _ in rows] == [(big, [1, 2]), (-4, [3]), (7, [4])]
    apart = np.array([big, -4, big])
    with pytest.raises(NotClustered, match=f"source track {big}"):
        list(neighbor_list_rows([(apart, np.arange(3), np.ones(3, np.float32))]))
