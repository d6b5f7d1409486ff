import numpy as np
import pandas as pd

from algorhythms_ml.recommend.ranker import (
    CATEGORIES,
    balanced_queries,
    challenge_metrics,
    split_holdout,
)
from algorhythms_store.memory_store import MemoryStore
from algorhythms_store.ranking import (
    FEATURES,
    SOURCES,
    Ranker,
    candidate_scores,
    rank,
    title_scores,
    top_up,
)


def tables() -> dict[str, pd.DataFrame]:
    """Five playlists over tracks 0-9; artists: track t is by artist t // 3.

    p0: 0 1 2 3   p1: 0 1 4   p2: 1 5 6   p3: 7 8 9   p4: 0 4 5 (title "rock")
    """
    playlists = {0: [0, 1, 2, 3], 1: [0, 1, 4], 2: [1, 5, 6], 3: [7, 8, 9], 4: [0, 4, 5]}
    members = pd.DataFrame(
        [(p, t, len(ts)) for p, ts in playlists.items() for t in ts],
        columns=["pid", "track_id", "length"],
    )
    popularity = members.groupby("track_id").size()
    stats = pd.DataFrame(
        {
            "track_id": popularity.index,
            "artist_id": popularity.index // 3,
            "popularity": popularity.values,
            "artist_popularity": 1,
            "artist_tracks_popularity": 10,
        }
    )
    neighbors = pd.DataFrame(
        [(0, 1, 0.8), (0, 4, 0.7), (1, 5, 0.5), (2, 3, 1.0), (7, 8, 1.0)],
        columns=["src", "dst", "weight"],
    )
    titles = pd.DataFrame(
        [("rock", 4, 1.0, 1), ("rock", 5, 1.0, 1), ("=rock", 5, 1.0, 1)],
        columns=["key", "track_id", "score", "key_playlists"],
    )
    artists = pd.DataFrame([(0, 1, 0.5), (1, 2, 0.4)], columns=["src", "dst", "weight"])
    return {
        "track_neighbors": neighbors,
        "title_tracks": titles,
        "playlist_members": members,
        "track_stats": stats,
        "artist_neighbors": artists,
    }


def test_candidate_features_follow_their_definitions():
    store = MemoryStore(tables())
    ev, candidates, X = store.features([0, 1], "Rock")
    col = {
        name: dict(zip(candidates.tolist(), X[:, i].tolist(), strict=True))
        for i, name in enumerate(FEATURES)
    }
    assert 0 not in col["knn"] and 1 not in col["knn"]  # seeds are never candidates
    # item-kNN: 4 <- 0 (0.7), 5 <- 1 (0.5), normalised by the largest sum (track 1's 0.8 is a seed)
    assert np.isclose(col["knn"][4], 0.7 / 0.8) and np.isclose(col["knn"][5], 0.5 / 0.8)
    assert np.isclose(col["knn_max"][4], 0.7)
    # playlist-kNN: p1 (2 shared of 3) is the best playlist; it holds 4
    sims = {0: 2 / np.sqrt(4), 1: 2 / np.sqrt(3), 2: 1 / np.sqrt(3), 4: 1 / np.sqrt(3)}
    u4 = (sims[1] ** 2 + sims[4] ** 2) / 2
    u2 = sims[0] ** 2 / 2
    assert np.isclose(col["uknn"][4] / col["uknn"][2], u4 / u2, rtol=1e-5)
    assert np.isclose(col["uknn_overlap"][2], 2 / 2)
    # title: "=rock" counts 3x: track 5 holds both keys, 4 only "rock"
    assert np.isclose(col["title"][5], 1.0) and np.isclose(col["title"][4], 1 / 4)
    # artist share: seeds 0 and 1 are by artist 0, as is 2; artist 1 (3, 4, 5) neighbours 0
    assert col["artist_share"][2] == 1.0 and col["artist_share"][4] == 0.0
    assert col["artist_knn"][4] == 1.0 and col["artist_knn"][7] == 0.0
    assert set(col["seeds"].values()) == {2.0} and set(col["has_title"].values()) == {1.0}


def test_without_a_ranker_the_order_is_knn_then_playlists_then_popularity():
    store = MemoryStore(tables())
    ev, candidates, X = store.features([0], None)
    order, scores = rank(ev, candidates, X, None)
    assert order[0] == 1 and order[1] == 4  # knn 0.8, then 0.7
    assert list(scores) == sorted(scores, reverse=True)
    # unknown seeds are ignored and only the title speaks
    ev, candidates, _ = store.features([999], "rock")
    assert {4, 5} <= set(candidates.tolist())
    assert len(ev.seeds) == 0


def test_candidates_always_cover_the_popular_tracks_when_sources_are_thin():
    store = MemoryStore(tables())
    ev = store.evidence(np.array([7]), None)
    candidates, _ = candidate_scores(ev)
    assert 7 not in candidates and set(candidates.tolist()) == set(range(10)) - {7}


def test_challenge_metrics_match_the_recsys_definitions():
    artist = {1: 10, 2: 20, 3: 30, 4: 10, 5: 50}.get
    # held out 1, 2 (R = 2); recommended 4 (artist of 1, wrong track), then 2
    r, ndcg, clicks = challenge_metrics([4, 2, 5], [1, 2], lambda t: artist(t, -1))
    assert np.isclose(r, (1 + 0.25) / 2)
    assert np.isclose(ndcg, (1 / np.log2(3)) / (1 + 1 / np.log2(3)))
    assert clicks == 0
    assert challenge_metrics([5] * 1, [1], lambda t: -1)[2] == 51


def test_balanced_queries_take_turns_over_the_ten_categories():
    playlists = {p: list(range(p * 1000, p * 1000 + 200)) for p in range(40)}
    names = {p: f"list {p}" for p in playlists}
    queries = balanced_queries(playlists, names, 20, seed=1)
    assert [q.category for q in queries] == [c[0] for c in CATEGORIES] * 2
    for q in queries:
        k = next(c[1] for c in CATEGORIES if c[0] == q.category)
        assert len(q.seeds) == k and len(q.seeds) + len(q.held_out) == 200
        assert (q.name is None) == (q.category in ("first5", "first10"))
        assert not set(q.seeds) & set(q.held_out)
    assert len({q.pid for q in queries}) == 20
    held, rest = split_holdout(range(1000), 0.1, 50, 80, seed=3)
    assert len(held) == 80 and not held & rest and len(held | rest) == 1000


def test_title_score_counts_the_whole_title_3x_and_damps_common_keys():
    # track 1: the whole title (held by 10 playlists); track 2: a word held by 1000
    tracks, scores = title_scores(
        np.array([1, 2, 2]),
        np.array([0.5, 0.5, 0.1], np.float32),
        np.array([10, 1000, 10], np.float32),
        np.array([True, False, False]),
    )
    raw = {1: 3 * 0.5 * 10 / np.log(12), 2: 0.5 * 1000 / np.log(1002) + 0.1 * 10 / np.log(12)}
    best = max(raw.values())
    assert tracks.tolist() == [1, 2]
    assert np.allclose(scores, [raw[1] / best, raw[2] / best])


def test_top_up_fills_with_popular_tracks_never_excluded_or_repeated():
    assert top_up([5, 3, 9], [1, 3, 2, 4], exclude={9, 1}, n=4) == [5, 3, 2, 4]
    assert top_up([5, 3], [1], exclude=set(), n=1) == [5]
    assert top_up([], [1, 2], exclude={2}, n=5) == [1]


def _random_booster(names: list[str], rounds: int):
    """(400 random rows over `names`, a small lambdarank model trained on them)."""
    import lightgbm

    rng = np.random.default_rng(0)
    data = rng.random((400, len(names))).astype(np.float32)
    labels = (data[:, 0] + 0.3 * rng.random(400) > 0.8).astype(int)
    booster = lightgbm.train(
        {"objective": "lambdarank", "verbose": -1, "min_data_in_leaf": 5},
        lightgbm.Dataset(data, labels, group=[40] * 10, feature_name=names),
        rounds,
    )
    return data, booster


def test_compiled_ranker_scores_as_lightgbm():
    store = MemoryStore(tables())
    _, _, X = store.features([0, 1], "rock")
    data, booster = _random_booster(FEATURES, 30)
    ranker = Ranker(booster.model_to_string())
    expected = ranker.score(np.concatenate([X, data]))
    ranker.compile()
    assert np.allclose(ranker.score(np.concatenate([X, data])), expected, rtol=0, atol=1e-9)


def _vectors() -> np.ndarray:
    """Song vectors of tracks 0-9 (not unit length: the store normalises them)."""
    rng = np.random.default_rng(3)
    return (rng.normal(size=(10, 4)) * rng.uniform(0.5, 3.0, size=(10, 1))).astype(np.float32)


def test_embedding_features_follow_their_definitions():
    vectors = _vectors()
    exact = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    # the ranker reads unit vectors stored in float16
    unit = exact.astype(np.float16).astype(np.float32)
    assert np.abs(unit - exact).max() < 1e-3
    store = MemoryStore(tables(), vectors=vectors)
    seeds = [0, 1, 2, 3, 4, 5, 6]  # more than the LAST_SEEDS most recent
    ev, candidates, X = store.features(seeds, None)
    col = {name: X[:, FEATURES.index(name)] for name in FEATURES}
    mean = unit[seeds].sum(0) / np.linalg.norm(unit[seeds].sum(0))
    last = unit[seeds[-5:]].sum(0) / np.linalg.norm(unit[seeds[-5:]].sum(0))
    cos = unit[candidates] @ unit[seeds].T
    assert np.allclose(col["emb_mean"], unit[candidates] @ mean, atol=1e-6)
    assert np.allclose(col["emb_max"], cos.max(1), atol=1e-6)
    assert np.allclose(col["emb_avg"], cos.mean(1), atol=1e-6)
    assert np.allclose(col["emb_last"], unit[candidates] @ last, atol=1e-6)
    # the nearest tracks to the seeds' mean vector, nearest first; candidates, but the seeds
    expected = sorted(range(10), key=lambda t: -float(unit[t] @ mean))
    assert ev.nearest.tolist() == expected
    assert set(expected) - set(seeds) <= set(candidates.tolist())
    assert not set(seeds) & set(candidates.tolist())


def test_the_nearest_tracks_are_candidates_no_other_source_finds():
    # track 9 shares no playlist, title or artist with the seeds: only its vector reaches it
    vectors = np.eye(10, dtype=np.float32)
    vectors[9] = vectors[0] + vectors[1]
    store = MemoryStore(tables(), vectors=vectors)
    ev, candidates, _, found = store.candidates([0, 1], None)
    assert ev.nearest[0] == 9
    by = {s: 1 << SOURCES.index(s) for s in SOURCES}
    assert found[candidates.tolist().index(9)] == by["embedding"] | by["popularity"]
    without = MemoryStore(tables())
    _, plain, X, found = without.candidates([0, 1], None)
    assert found[plain.tolist().index(9)] == by["popularity"]
    # without vectors the embedding features are 0
    emb = [FEATURES.index(n) for n in ("emb_mean", "emb_max", "emb_avg", "emb_last")]
    assert not X[:, emb].any()


def test_a_ranker_trained_before_a_feature_existed_scores_its_own_columns():
    old = [f for f in FEATURES if not f.startswith("emb_")]
    data, booster = _random_booster(old, 20)
    ranker = Ranker(booster.model_to_string())
    full = np.zeros((400, len(FEATURES)), np.float32)
    full[:, [FEATURES.index(f) for f in old]] = data
    full[:, [FEATURES.index(f) for f in FEATURES if f not in old]] = 9.0  # ignored
    assert np.array_equal(ranker.score(full), booster.predict(data, num_threads=1))
