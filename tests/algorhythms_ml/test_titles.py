from algorhythms_ml.recommend.titles import TitleConfig, title_track_scores


def test_title_scores_are_shares_of_playlists_with_the_key(spark):
    playlists = spark.createDataFrame(
        [(1, "Rock"), (2, "rock classics"), (3, "Classics"), (4, "🎸"), (5, None)],
        "pid long, name string",
    )
    rows = spark.createDataFrame(
        [(1, 10), (1, 11), (2, 10), (2, 12), (3, 12), (4, 13), (5, 10)],
        "pid long, track_id int",
    )
    got = {
        (r["key"], r["track_id"]): round(r["score"], 4)
        for r in title_track_scores(playlists, rows, TitleConfig(min_playlists=2)).collect()
    }
    # "rock" is in playlists 1 and 2, "classics" in 2 and 3; the other words in one only, so
    # dropped; every whole title is kept, however few playlists carry it.
    assert got == {
        ("rock", 10): 1.0,
        ("rock", 11): 0.5,
        ("rock", 12): 0.5,
        ("classics", 12): 1.0,
        ("classics", 10): 0.5,
        ("=rock", 10): 1.0,
        ("=rock", 11): 1.0,
        ("=rock classics", 10): 1.0,
        ("=rock classics", 12): 1.0,
        ("=classics", 12): 1.0,
        ("=🎸", 13): 1.0,
    }
    config = TitleConfig(min_playlists=2, top_k=1, whole_title_top_k=1)
    top = title_track_scores(playlists, rows, config).collect()
    assert {(r["key"], r["track_id"]) for r in top} == {
        ("rock", 10),
        ("classics", 12),
        ("=rock", 10),
        ("=rock classics", 10),
        ("=classics", 12),
        ("=🎸", 13),
    }
