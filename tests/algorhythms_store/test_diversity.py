import numpy as np
import pytest

from algorhythms_store.diversity import (
    RANKED,
    Diversity,
    intra_list_similarity,
    relevance,
    rerank,
)

# Two tight groups: tracks 0-2 point east, 3-4 north, ranked in that order; relevance by rank
# 1, 0.631, 0.5, 0.431, 0.387.
VECTORS = np.array([[1, 0.01], [1, 0.02], [1, -0.01], [0.01, 1], [-0.01, 1]], np.float32)
ARTISTS = ["a", "a", "b", "c", "c"]


def test_relevance_is_the_gain_of_each_rank():
    assert relevance(3) == pytest.approx([1.0, 1 / np.log2(3), 0.5])


def test_no_setting_keeps_the_ranked_order():
    assert not RANKED.active and RANKED.pool(10) == 10
    assert rerank(5, VECTORS, ARTISTS, 5, RANKED).tolist() == [0, 1, 2, 3, 4]


def test_diversity_picks_the_best_track_of_the_other_group_second():
    # after 0: 3's 0.5 * 0.431 - 0.5 * ~0 beats 1's 0.5 * 0.631 - 0.5 * ~1
    assert rerank(5, VECTORS, None, 3, Diversity(diversity=0.5)).tolist() == [0, 3, 1]
    # after 0 and 1: 2's 0.95 * 0.5 - 0.05 * ~1 still beats 3's 0.95 * 0.431
    assert rerank(5, VECTORS, None, 3, Diversity(diversity=0.05)).tolist() == [0, 1, 2]
    # at 0.1, 3's 0.9 * 0.431 beats 2's 0.9 * 0.5 - 0.1 * ~1
    assert rerank(5, VECTORS, None, 3, Diversity(diversity=0.1)).tolist() == [0, 1, 3]


def test_max_per_artist_skips_an_artist_at_its_cap():
    picks = rerank(5, VECTORS, ARTISTS, 5, Diversity(max_per_artist=1))
    assert picks.tolist() == [0, 2, 3]  # an answer short of its count rather than over a cap


def test_explore_draws_among_candidates_near_the_best_repeatably():
    settings = Diversity(explore=0.4, seed=3)
    first = rerank(5, VECTORS, None, 5, settings).tolist()
    assert first == rerank(5, VECTORS, None, 5, settings).tolist()
    assert sorted(first) == [0, 1, 2, 3, 4]
    # within 0.4 of the best (1), the first pick is 0 or 1 (0.631)
    firsts = {rerank(5, VECTORS, None, 1, Diversity(explore=0.4, seed=s))[0] for s in range(40)}
    assert firsts == {0, 1}
    everything = {rerank(5, VECTORS, None, 1, Diversity(explore=1.0, seed=s))[0] for s in range(60)}
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
