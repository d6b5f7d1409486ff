"""The assets' launchpad configuration is derived from the ML configuration classes."""

import dataclasses

import dagster as dg
import pytest

from algorhythms_assets.config import launchpad_config
from algorhythms_ml.embeddings.train import GCNConfig
from algorhythms_ml.mpd.tracks import TrackTableConfig
from algorhythms_ml.recommend.ranker import RankerConfig
from algorhythms_ml.recommend.training import HoldoutConfig
from algorhythms_store.publish import HnswConfig


def test_every_asset_config_has_exactly_its_ml_fields_and_defaults():
    from algorhythms_assets.assets import embeddings, mpd, published, recommend

    cases = [
        (embeddings.GcnEmbeddingsConfig, (GCNConfig,)),
        (recommend.PlaylistRankerConfig, (RankerConfig, HoldoutConfig)),
        (recommend.RecommendationEvalConfig, (HoldoutConfig,)),
        (mpd.TrackMetadataConfig, (TrackTableConfig,)),
        (published.PublishedVersionConfig, (HnswConfig,)),
    ]
    for derived, sources in cases:
        expected = [f.name for s in sources for f in dataclasses.fields(s)]
        assert list(derived.model_fields) == expected
        defaults = derived()
        for source in sources:
            assert defaults.to(source) == source()


def test_run_config_values_reach_the_ml_configuration():
    derived = launchpad_config("RankerRun", RankerConfig, HoldoutConfig)
    config = derived(folds=3, holdout_seed=7, max_playlists=None)
    assert config.to(RankerConfig) == RankerConfig(folds=3)
    assert config.to(HoldoutConfig) == HoldoutConfig(holdout_seed=7, max_playlists=None)


def test_descriptions_come_from_the_ml_configuration():
    derived = launchpad_config("GcnRun", GCNConfig)
    assert derived.model_fields["lr"].description == "Adam learning rate"
    assert derived.model_fields["fanouts"].default_factory() == [15, 10]


def test_fields_defined_in_two_configurations_are_refused():
    with pytest.raises(ValueError, match="'seed' is defined twice"):
        launchpad_config("Clash", RankerConfig, GCNConfig)


def test_invalid_values_are_refused_by_the_ml_configuration():
    derived = launchpad_config("RankerRun", RankerConfig)
    with pytest.raises(ValueError):
        derived(folds=1).to(RankerConfig)


def test_training_reads_the_configuration_its_published_tables_were_built_with():
    from algorhythms_assets.config import built_with
    from algorhythms_ml.recommend.neighbors import NeighborConfig
    from algorhythms_ml.recommend.titles import TitleConfig

    with dg.instance_for_test() as instance:
        # nothing materialised yet: the defaults
        assert built_with(instance, "track_neighbors", NeighborConfig) == NeighborConfig()
        # the multi-asset records its edge and neighbour fields together
        recorded = {"top_k": 50, "weight": "cosine", "neighbor_top_k": 7}
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                "track_neighbors", metadata={"config": dg.MetadataValue.json(recorded)}
            )
        )
        assert built_with(instance, "track_neighbors", NeighborConfig).neighbor_top_k == 7
        assert built_with(instance, "title_tracks", TitleConfig) == TitleConfig()
