import numpy as np
import pytest

from algorhythms_store.title_index import TITLE_PLAYLISTS, TitleIndex, title_grams

TITLES = {
    "chill vibes": 3,
    "chill": 40,
    "rock classics": 5,
    "classic rock": 2,
    "workout": 7,
    "work out mix": 1,
    "christmas": 120,
    "🎄": 4,
}


def index(titles=TITLES):
    return TitleIndex(list(titles), list(titles.values()))


def test_spellings_of_a_title_share_its_grams():
    base = title_grams("chill vibes")
    assert title_grams("Chill   Vibes") == base
    for other in ("Chill Vibes 2017", "chillll vibes", "chill vibez"):
        shared = len(base & title_grams(other)) / len(base | title_grams(other))
        assert shared > 0.5, other
    assert title_grams("") == set() and title_grams(None) == set()


@pytest.mark.parametrize(
    "name, best",
    [
        ("Chill Vibes 2017", "=chill vibes"),
        ("chillll vibes", "=chill vibes"),
        ("classic rock!!", "=classic rock"),
        ("workouts", "=workout"),
        ("🎄🎄", "=🎄"),
    ],
)
def test_the_most_similar_title_comes_first(name, best):
    keys, weights = index().similar(name)
    assert keys[0] == best
    assert np.all(np.diff(weights / np.minimum([TITLES[k[1:]] for k in keys], 100)) <= 1e-12)


def test_weights_take_at_most_the_playlist_budget():
    keys, weights = index().similar("christmas")
    assert keys[0] == "=christmas"
    # cosine 1 times the budget: the one title fills it
    assert keys == ["=christmas"] and weights[0] == pytest.approx(TITLE_PLAYLISTS)
    keys, weights = index().similar("chill vibes")
    sims = weights / np.array([min(TITLES[k[1:]], TITLE_PLAYLISTS) for k in keys])
    assert np.all((sims > 0) & (sims <= 1 + 1e-12))
    keys, weights = index().similar("zzzz qqq")
    assert keys == [] and len(weights) == 0


@pytest.mark.parametrize("own", ["chill vibes", "work out mix", "christmas", "🎄"])
@pytest.mark.parametrize("name", ["chill", "workout mix", "christmas songs", "🎄 tree"])
def test_a_left_out_title_matches_as_the_index_without_it(own, name):
    without = dict(TITLES)
    without[own] -= 1
    if not without[own]:
        del without[own]
    keys, weights = index().similar(name, minus=own.upper())
    expected_keys, expected_weights = index(without).similar(name)
    assert keys == expected_keys
    np.testing.assert_allclose(weights, expected_weights, rtol=1e-12)


def test_from_keys_reads_whole_titles_only():
    built = TitleIndex.from_keys(["=rock", "rock", "=pop", "pop"], [2, 5, 1, 9])
    assert built.titles == ["pop", "rock"]
    np.testing.assert_array_equal(built.playlists, [1, 2])
    empty = TitleIndex([], [])
    keys, weights = empty.similar("rock")
    assert len(empty) == 0 and keys == [] and len(weights) == 0
