"""The ablation rankers: each trained and answering without one candidate source or one
feature group."""

import numpy as np
import pytest

from algorhythms_ml.artefacts import read_ablation, write_ranker
from algorhythms_ml.recommend.ranker import (
    ABLATIONS,
    Ablation,
    RankerConfig,
    ablation_recommenders,
    fit_ablations,
    fit_ranker,
    random_queries,
    training_rows,
)
from algorhythms_ml.warehouse import Warehouse
from algorhythms_store.memory_store import MemoryStore
from algorhythms_store.ranking import FEATURE_GROUPS, FEATURES, SOURCES
from tests.catalogue import playlists, ranking_tables

LISTS = playlists()
STORE = MemoryStore(ranking_tables(LISTS))
QUERIES = random_queries(LISTS, {p: "rock" for p in LISTS}, seed=0)
ROWS = training_rows(STORE, QUERIES)
CONFIG = RankerConfig(rounds=10, min_data_in_leaf=5)


def test_rows_record_which_sources_found_each_candidate():
    for q in QUERIES[:20]:
        ev, candidates, X, found = STORE.candidates(q.seeds, q.name)
        assert len(found) == len(candidates) and np.all(found > 0)
        knn = (found & (1 << SOURCES.index("co-occurrence"))) != 0
        # the item-kNN source is the best-scored tracks of the knn feature
        if knn.any() and (~knn).any():
            assert X[knn, FEATURES.index("knn")].min() >= X[~knn, FEATURES.index("knn")].max()
    assert all(len(f) == len(X) for f, X in zip(ROWS.found, ROWS[0], strict=True))


def test_a_source_ablation_drops_only_what_no_other_source_found():
    X, found = ROWS[0][0], ROWS.found[0]
    for source in SOURCES[:-1]:
        bit = np.uint8(1 << SOURCES.index(source))
        keep, kept = Ablation(source=source).apply(X, found)
        np.testing.assert_array_equal(keep, found != bit)
        np.testing.assert_array_equal(kept, X[keep])


def test_a_feature_ablation_zeroes_its_group_only():
    X, found = ROWS[0][0], ROWS.found[0]
    for group, names in FEATURE_GROUPS.items():
        keep, kept = Ablation(group=group).apply(X, found)
        assert keep.all()
        cols = [FEATURES.index(n) for n in names]
        assert not kept[:, cols].any()
        others = [i for i in range(len(FEATURES)) if i not in cols]
        np.testing.assert_array_equal(kept[:, others], X[:, others])
    assert X.any()  # the original rows are untouched


def test_each_ablation_has_a_ranker_that_answers(tmp_path):
    rankers = fit_ablations(ROWS, CONFIG)
    assert set(rankers) == {a.label for a in ABLATIONS}
    model = fit_ranker(*ROWS, CONFIG)
    # a ranker without a feature group never splits on it
    for group, names in FEATURE_GROUPS.items():
        importance = rankers[f"without features: {group}"].booster.feature_importance()
        assert all(importance[FEATURES.index(n)] == 0 for n in names)
    assert model.booster.feature_importance().sum() > 0
    answers = ablation_recommenders(STORE, rankers)
    q = QUERIES[0]
    full = STORE.recommend(q.seeds, q.name, model)
    for label, recommend in answers.items():
        got = recommend(q)
        assert len(got) == len(full) and not set(got) & set(q.seeds), label
    # without the feature groups the order changes
    assert any(answers[a.label](q) != full for a in ABLATIONS if a.group)
    # written beside the ranker, and cleared when the next ranker has none
    wh = Warehouse.at(tmp_path)
    write_ranker(wh, model, rankers)
    assert set(read_ablation(wh)) == set(rankers)
    write_ranker(wh, model)
    assert read_ablation(wh) == {}


@pytest.mark.parametrize("ablation", ABLATIONS, ids=lambda a: a.label)
def test_labels_are_distinct(ablation):
    assert sum(a.label == ablation.label for a in ABLATIONS) == 1
