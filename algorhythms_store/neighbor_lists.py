"""`track_neighbors` as it is published: one row per source track with its neighbours as arrays.

The warehouse holds the item-kNN lists as (src, dst, weight) rows, clustered by src (each src's
rows in one file, each file sorted by src). `neighbor_list_rows` turns a stream of such rows,
read a batch at a time, into the published rows (src, dst ids, weights: numpy arrays, which
the publish's COPY writes whole, algorhythms_store.binary_arrays), heaviest first (ties: the
smaller dst), holding no more than a batch and one track's list in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

Batch = tuple[np.ndarray, np.ndarray, np.ndarray]  # src, dst, weight
# Source ids below this are remembered in a bitmap (at most 256 MB), others in a set.
BITMAP_IDS = 1 << 28


class NotClustered(ValueError):
    """A source track's rows came in two runs apart: the rows are not clustered by src."""


def _runs(src: np.ndarray) -> np.ndarray:
    """The start of each run of equal `src` values, and its end as a last entry."""
    if not len(src):
        return np.zeros(1, np.intp)
    return np.r_[np.flatnonzero(np.r_[True, src[1:] != src[:-1]]), len(src)]


class _Seen:
    """Which source ids have had their list written: a bitmap for ids from 0 below BITMAP_IDS
    (track ids are dense), a set for any others."""

    def __init__(self) -> None:
        self.bits = np.zeros(0, bool)
        self.others: set[int] = set()

    def add(self, ids: np.ndarray) -> None:
        """Mark `ids` written; NotClustered if one was before or comes twice among them."""
        distinct, times = np.unique(ids, return_counts=True)
        small = (distinct >= 0) & (distinct < BITMAP_IDS)
        inside, outside = distinct[small], distinct[~small]
        if len(inside) and int(inside[-1]) >= len(self.bits):
            grown = np.zeros(min(BITMAP_IDS, max(int(inside[-1]) + 1, 2 * len(self.bits))), bool)
            grown[: len(self.bits)] = self.bits
            self.bits = grown
        again = distinct[times > 1].tolist() + inside[self.bits[inside]].tolist()
        again += [i for i in outside.tolist() if i in self.others]
        if again:
            raise NotClustered(
                f"track_neighbors: the rows of source track {again[0]} are not contiguous; "
                "the table must be clustered by src (each src's rows together)"
            )
        self.bits[inside] = True
        self.others.update(outside.tolist())


def _lists(src: np.ndarray, dst: np.ndarray, weight: np.ndarray, bounds: np.ndarray):
    """The rows of the runs `bounds` (their starts from 0, then the end of the last) of one
    batch, which may go on past them."""
    starts, ends = bounds[:-1], bounds[1:]
    end = int(bounds[-1])
    run = np.repeat(np.arange(len(starts)), ends - starts)
    order = np.lexsort((dst[:end], -weight[:end], run))
    dst, weight = dst[:end][order], weight[:end][order]
    for s, a, b in zip(src[starts].tolist(), starts.tolist(), ends.tolist(), strict=True):
        yield s, dst[a:b], weight[a:b]


def neighbor_list_rows(batches: Iterable[Batch]) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """The published `track_neighbors` rows of (src, dst, weight) row batches in which each
    src's rows are contiguous (they may span batches): per src, in the order met, (src, dst
    ids, weights), heaviest first, ties by the smaller dst. Raises NotClustered when a src's
    rows come apart."""
    seen = _Seen()
    carry: Batch | None = None
    for batch in batches:
        src, dst, weight = (np.asarray(a) for a in batch)
        src = src.astype(np.int64, copy=False)
        if carry is not None:
            src, dst, weight = (
                np.concatenate(p) for p in zip(carry, (src, dst, weight), strict=True)
            )
        bounds = _runs(src)
        whole = bounds[:-1]  # the last run may go on in the next batch
        if len(whole) > 1:
            seen.add(src[whole[:-1]])
            yield from _lists(src, dst, weight, bounds[:-1])
        last = int(bounds[-2]) if len(bounds) > 1 else 0
        carry = (src[last:], dst[last:], weight[last:])
    if carry is not None and len(carry[0]):
        seen.add(carry[0][:1])
        yield from _lists(*carry, np.array([0, len(carry[0])]))
