"""Leaving a playlist out of the in-memory tables equals building them without it."""

import numpy as np
import pandas as pd
import pytest

from algorhythms_store.memory_store import LeftOut, MemoryStore
from algorhythms_store.text import title_keys

TITLES = ["rock", "Rock Hits", "chill vibes", "Chill", "summer hits", None, "rock"]


def named_playlists(n: int = 80, tracks: int = 60, seed: int = 3):
    rng = np.random.default_rng(seed)
    lists, names = {}, {}
    for pid in range(n):
        size = int(rng.integers(3, 15))
        home = int(rng.integers(0, 4)) * 15
        picks = rng.choice(15, size=size, replace=True) + home
        picks[: size // 4] = rng.choice(tracks, size=size // 4)
        lists[pid] = list(dict.fromkeys(int(t) for t in picks))
        names[pid] = TITLES[pid % len(TITLES)]
    # Track 61 is in playlist 0 only, by the artist of its first track (60, also in 1 and 2):
    # without playlist 0 it is in no table, not even among its artist's tracks.
    lists[0] = [60, *lists[0], 61]
    lists[1].append(60)
    lists[2].append(60)
    return lists, names


def cosine_pairs(members: pd.DataFrame, key: str) -> pd.DataFrame:
    """Every co-occurring pair of `key` values over playlists, cosine-weighted (unpruned)."""
    distinct = members[["pid", key]].drop_duplicates()
    n = distinct.groupby(key).size()
    pairs = distinct.merge(distinct, on="pid")
    pairs = pairs[pairs[f"{key}_x"] != pairs[f"{key}_y"]]
    counts = pairs.groupby([f"{key}_x", f"{key}_y"]).size().rename("count").reset_index()
    counts.columns = ["src", "dst", "count"]
    counts["weight"] = counts["count"] / np.sqrt(
        n[counts["src"]].to_numpy() * n[counts["dst"]].to_numpy()
    )
    return counts.astype({"weight": "float32"})


def top_by_count(pairs: pd.DataFrame, k: int | None) -> pd.DataFrame:
    """Each src's k rows by count (ties: higher weight, smaller dst), as the pipeline prunes."""
    if k is None:
        return pairs[["src", "dst", "weight"]]
    order = pairs.sort_values(["src", "count", "weight", "dst"], ascending=[1, 0, 0, 1])
    return order.groupby("src").head(k)[["src", "dst", "weight"]]


def tables(lists: dict[int, list[int]], names: dict[int, str | None], k: int | None = None) -> dict:
    """The five ranking tables by their definitions, each list pruned to its top `k` by count
    (None: unpruned); artist of track t: t // 4."""
    members = pd.DataFrame(
        [(p, t, len(ts)) for p, ts in lists.items() for t in ts],
        columns=["pid", "track_id", "length"],
    )
    members["artist_id"] = members["track_id"] // 4
    popularity = members.groupby("track_id").size()
    artist_n = members[["pid", "artist_id"]].drop_duplicates().groupby("artist_id").size()
    stats = pd.DataFrame({"track_id": popularity.index, "popularity": popularity.to_numpy()})
    stats["artist_id"] = stats["track_id"] // 4
    stats["artist_popularity"] = artist_n[stats["artist_id"]].to_numpy()
    stats["artist_tracks_popularity"] = stats.groupby("artist_id")["popularity"].transform("sum")
    keyed = pd.DataFrame(
        [(p, k) for p, name in names.items() if p in lists and name for k in title_keys(name)],
        columns=["pid", "key"],
    ).drop_duplicates()
    keyed["key_playlists"] = keyed.groupby("key")["pid"].transform("size")
    keyed = keyed[(keyed["key_playlists"] >= 2) | keyed["key"].str.startswith("=")]
    title = keyed.merge(members[["pid", "track_id"]], on="pid")
    title = title.groupby(["key", "track_id", "key_playlists"]).size().rename("count")
    title = title.reset_index()
    title["score"] = (title["count"] / title["key_playlists"]).astype("float32")
    return {
        "track_neighbors": top_by_count(cosine_pairs(members, "track_id"), k),
        "title_tracks": title[["key", "track_id", "score", "key_playlists"]],
        "playlist_members": members[["pid", "track_id", "length"]],
        "track_stats": stats,
        "artist_neighbors": top_by_count(cosine_pairs(members, "artist_id"), k),
    }


LISTS, NAMES = named_playlists()
UNPRUNED = {"track_neighbors": 10**9, "artist_neighbors": 10**9, "title_tracks": 10**9}
WHOLE = MemoryStore(tables(LISTS, NAMES), UNPRUNED)


@pytest.mark.parametrize("pid", [0, 1, 2, 5, 13, 40])
@pytest.mark.parametrize("seeds", [0, 1, 3, None])
def test_a_left_out_playlist_reads_as_the_tables_without_it(pid, seeds):
    tracks = LISTS[pid]
    shown = tracks if seeds is None else tracks[:seeds]
    others = {p: t for p, t in LISTS.items() if p != pid}
    without = MemoryStore(tables(others, NAMES), UNPRUNED)
    expected_ev, expected, expected_X = without.features(shown, NAMES[pid])
    ev, got, X = WHOLE.features(shown, NAMES[pid], LeftOut.of(pid, tracks, NAMES[pid]))
    np.testing.assert_array_equal(ev.seeds, expected_ev.seeds)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(X, expected_X, rtol=1e-5, atol=1e-6)
    # without leaving it out, the playlist's own tracks and counts are in what the query reads
    _, leaky, leaky_X = WHOLE.features(shown, NAMES[pid])
    assert leaky.shape != got.shape or not np.allclose(leaky_X, X)


def test_a_track_only_the_left_out_playlist_holds_is_not_searched_by_its_vector():
    """Song vectors cover every track (a GCN gives one to a track it never trained on), but a
    track that the left-out playlist alone holds is not in the catalogue its query searches, as
    the service's index does not hold it: it would be one of the query's own tracks."""
    vectors = np.random.default_rng(0).normal(size=(62, 8)).astype(np.float32)
    tracks = LISTS[0]  # holds 61, which no other playlist does
    seeds = tracks[:3]
    vectors[61] = vectors[seeds].mean(axis=0)
    whole = MemoryStore(tables(LISTS, NAMES), UNPRUNED, vectors=vectors)
    others = {p: t for p, t in LISTS.items() if p != 0}
    without = MemoryStore(tables(others, NAMES), UNPRUNED, vectors=vectors)
    ev, got, X = whole.features(seeds, NAMES[0], LeftOut.of(0, tracks, NAMES[0]))
    expected_ev, expected, expected_X = without.features(seeds, NAMES[0])
    assert 61 in whole.evidence(np.array(seeds), NAMES[0]).nearest  # the search finds it
    assert 61 not in ev.nearest
    np.testing.assert_array_equal(ev.nearest, expected_ev.nearest)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(X, expected_X, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("pid", [0, 3, 8, 21])
def test_in_pruned_lists_the_left_out_playlist_leaves_no_trace(pid):
    """A playlist's own tracks were pushed up the top-K lists by its counts; left out, a query
    reads no list row that the tables built without it would not hold."""
    k = 6
    whole = MemoryStore(tables(LISTS, NAMES, k))
    without = MemoryStore(tables({p: t for p, t in LISTS.items() if p != pid}, NAMES, k))
    tracks = LISTS[pid]
    ev = whole.evidence(np.array(tracks[:3]), None, LeftOut.of(pid, tracks, NAMES[pid]))
    expected = without.evidence(np.array(tracks[:3]), None)
    got = set(zip(ev.neighbor_src.tolist(), ev.neighbor_dst.tolist(), strict=True))
    allowed = set(zip(expected.neighbor_src.tolist(), expected.neighbor_dst.tolist(), strict=True))
    assert got <= allowed and len(got) >= len(allowed) // 2
    leaky = whole.evidence(np.array(tracks[:3]), None)
    leaked = set(zip(leaky.neighbor_src.tolist(), leaky.neighbor_dst.tolist(), strict=True))
    assert not leaked <= allowed


@pytest.mark.parametrize("pid", [0, 5, 13])
def test_the_evaluation_on_the_whole_tables_is_that_on_the_tables_without_the_query(pid):
    """recommendation_eval's recommenders with `leave_out` read the published tables as the
    tables built without the query's playlist: the model, item-kNN and popularity alike."""
    from algorhythms_ml.recommend.ranker import Query, standard_recommenders

    tracks = LISTS[pid]
    query = Query(pid, "title_first1", NAMES[pid], tracks[:1], tracks[1:], title=NAMES[pid])
    without = MemoryStore(tables({p: t for p, t in LISTS.items() if p != pid}, NAMES), UNPRUNED)
    got = standard_recommenders(WHOLE, None, leave_out=True)
    expected = standard_recommenders(without, None)
    for name, recommend in expected.items():
        assert got[name](query) == recommend(query), name
    # the popular list itself: the playlist's tracks lose its count
    popular = WHOLE.most_popular(query.left_out()).tolist()
    assert popular == without.popular.tolist()[: len(popular)]


def test_the_evaluation_recommenders_share_a_query_s_candidates_and_never_another_s():
    """The model and item-kNN recommenders compute a query's candidates once: whatever order
    they are called in over several queries, each answer is that of its own query."""
    from algorhythms_ml.recommend.ranker import Query, standard_recommenders

    queries = [
        Query(pid, "title_first1", NAMES[pid], LISTS[pid][:2], LISTS[pid][2:], title=NAMES[pid])
        for pid in (0, 5, 13)
    ]
    shared = standard_recommenders(WHOLE, None)
    alone = {name: standard_recommenders(WHOLE, None)[name] for name in shared}
    order = [(q, name) for q in queries for name in ("item_knn", "model")]
    order += [(queries[0], "model"), (queries[2], "item_knn"), (queries[0], "item_knn")]
    for query, name in order:
        assert shared[name](query) == alone[name](query), (query.pid, name)
    for query in queries:
        assert shared["model"](query) == WHOLE.recommend(query.seeds, query.name, None)
    assert len({tuple(shared["model"](q)) for q in queries}) == len(queries)
