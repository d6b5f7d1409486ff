import logging

import numpy as np

from algorhythms_ml.embeddings.track_map import (
    TrackMapConfig,
    draw_map,
    membership_weights,
    nearest_neighbours,
    neighbour_preservation,
)
from tests.catalogue import PER_CLUSTER, catalogue

LOG = logging.getLogger("test")


def test_nearest_neighbours_are_ordered_by_cosine_and_exclude_the_point():
    # at 0, 10, 30 and 100 degrees, of different lengths
    angles = np.radians([0, 10, 30, 100])
    points = np.stack([np.cos(angles), np.sin(angles)], 1) * np.array([[1], [5], [0.2], [3]])
    index, distance = nearest_neighbours(points, 2, cosine=True)
    assert index.tolist() == [[1, 2], [0, 2], [1, 0], [2, 1]]
    # unit vectors at 90 degrees are sqrt(2) apart
    assert np.isclose(distance[3, 1], np.sqrt(2))


def test_membership_weights_give_the_nearest_one_and_sum_to_log2_k():
    distance = np.array([[0.5, 0.7, 1.0, 2.0], [0.1, 0.1, 0.3, 0.4]])
    weights = membership_weights(distance)
    assert np.allclose(weights[:, 0], 1.0)
    assert np.allclose(weights.sum(1), np.log2(4))
    assert (np.diff(weights[0]) < 0).all()


def test_neighbour_preservation_counts_shared_neighbours():
    line = np.array([[0.0, 0], [1, 0], [2, 0], [3, 0], [10, 0]])
    true = nearest_neighbours(line, 2, cosine=False)[0]
    assert true.tolist() == [[1, 2], [0, 2], [1, 3], [2, 1], [3, 2]]  # ties by index
    assert neighbour_preservation(true, line, k=2) == 1.0
    # The first and last points swapped: their map neighbours are [3, 2] and [1, 2], point
    # 1's are [2, 4]; 1 + 1 + 2 + 2 + 1 of the 10 are kept.
    swapped = line[[4, 1, 2, 3, 0]]
    assert neighbour_preservation(true, swapped, k=2) == 0.7


def test_the_map_keeps_clusters_together_and_is_the_same_for_a_seed():
    tracks = catalogue("map", n=20 * PER_CLUSTER, dim=16)
    config = TrackMapConfig(tracks=len(tracks), epochs=150)
    first = draw_map(tracks.ids, tracks.vectors, config, LOG)
    again = draw_map(tracks.ids, tracks.vectors, config, LOG)
    assert first.layout.shape == (len(tracks), 2) and np.isfinite(first.layout).all()
    assert np.array_equal(first.layout, again.layout)
    other = draw_map(tracks.ids, tracks.vectors, TrackMapConfig(epochs=150, seed=1), LOG)
    assert not np.array_equal(first.layout, other.layout)

    # Neighbours in the vector space stay neighbours on the map, far more than on a random
    # map or on the plain PCA projection.
    index, _ = nearest_neighbours(tracks.vectors, 10, cosine=True)
    random = np.random.default_rng(0).normal(size=first.layout.shape)
    assert neighbour_preservation(index, random) < 0.05
    assert first.preservation > max(0.3, first.pca_preservation + 0.05)
    # Each track's nearest track on the map is of its own cluster.
    nearest = nearest_neighbours(first.layout, 1, cosine=False)[0][:, 0]
    cluster = tracks.ids // PER_CLUSTER
    assert (cluster[nearest] == cluster).mean() > 0.95


def test_a_map_of_too_few_tracks_is_their_pca_projection():
    tracks = catalogue("tiny", n=5)
    drawn = draw_map(tracks.ids, tracks.vectors, TrackMapConfig(), LOG)
    assert drawn.layout.shape == (5, 2) and np.isfinite(drawn.layout).all()
