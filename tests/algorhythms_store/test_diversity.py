import numpy as np
import pytest

from algorhythms_store.diversity import RANKED, Diversity, intra_list_similarity, rerank

# Two tight groups: tracks 0-2 point east, 3-4 north; relevance falls with the index.
VECTORS = np.array([[1, 0.01], [1, 0.02], [1, -0.01], [0.01, 1], [-0.01, 1]], np.float32)
SCORES = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
ARTISTS = ["a", "a", "b", "c", "c"]


def test_no_setting_keeps_the_ranked_order():
    assert not RANKED.active and RANKED.pool(10) == 10
    assert rerank(SCORES, VECTORS, ARTISTS, 5, RANKED).tolist() == [0, 1, 2, 3, 4]


def test_diversity_picks_the_best_track_of_the_other_group_second():
    # value of 3 after picking 0: 0.5 * 0.25 - 0.5 * ~0 beats 1's 0.5 * 0.75 - 0.5 * ~1
    assert rerank(SCORES, VECTORS, None, 3, Diversity(diversity=0.5)).tolist() == [0, 3, 1]
    assert rerank(SCORES, VECTORS, None, 3, Diversity(diversity=0.1)).tolist() == [0, 1, 2]


def test_max_per_artist_skips_an_artist_at_its_cap():
    picks = rerank(SCORES, VECTORS, ARTISTS, 5, Diversity(max_per_artist=1))
    assert picks.tolist() == [0, 2, 3]  # an answer short of its count rather than over a cap


def test_explore_draws_among_candidates_near_the_best_repeatably():
    settings = Diversity(explore=0.3, seed=3)
    first = rerank(SCORES, VECTORS, None, 5, settings).tolist()
    assert first == rerank(SCORES, VECTORS, None, 5, settings).tolist()
    assert sorted(first) == [0, 1, 2, 3, 4]
    # relevance 1, 0.75, 0.5, 0.25, 0: within 0.3 of the best, the first pick is 0 or 1
    firsts = {
        rerank(SCORES, VECTORS, None, 1, Diversity(explore=0.3, seed=s))[0] for s in range(40)
    }
    assert firsts == {0, 1}
    everything = {
        rerank(SCORES, VECTORS, None, 1, Diversity(explore=1.0, seed=s))[0] for s in range(60)
    }
    assert everything == {0, 1, 2, 3, 4}


def test_the_pool_grows_with_the_count_and_is_bounded():
    assert Diversity(diversity=0.3).pool(10) == 60
    assert Diversity(diversity=0.3).pool(100) == 300
    assert Diversity(diversity=0.3).pool(500) == 1500


@pytest.mark.parametrize("kwargs", [{"diversity": 1.1}, {"explore": -0.1}, {"max_per_artist": 0}])
def test_settings_out_of_range_are_refused(kwargs):
    with pytest.raises(ValueError):
        Diversity(**kwargs)


def test_intra_list_similarity_is_the_mean_pairwise_cosine():
    vectors = np.array([[1, 0], [0, 1], [1, 1]], np.float32)
    # pairs: (0,1) 0, (0,2) and (1,2) 1/sqrt(2)
    assert intra_list_similarity(vectors) == pytest.approx(2 / np.sqrt(2) / 3, rel=1e-6)
    assert intra_list_similarity(vectors[:1]) == 0.0
