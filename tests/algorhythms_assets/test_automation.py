"""New slices flow downstream by declarative automation, evaluated with Dagster's test API."""

import dagster as dg

from algorhythms_assets.definitions import defs
from algorhythms_assets.partitions import mpd_slices


def materialised(instance: dg.DagsterInstance, key: str, partition: str | None = None) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, partition=partition))


def requested(result) -> set[str]:
    return {r.key.to_user_string() for r in result.results if r.true_subset.size > 0}


# Everything but the ingested slices themselves.
DOWNSTREAM = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()} - {
    "raw_mpd_slices"
}


def test_a_new_slice_rebuilds_everything_downstream_once():
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(mpd_slices.name, ["mpd.slice.0-999", "mpd.slice.1000-1999"])
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert requested(result) == set()  # nothing has happened yet

        # One slice ingested (the other never was: it must not hold the rest back). The whole
        # chain is requested in one tick: an asset whose upstream is requested counts as updated.
        materialised(instance, "raw_mpd_slices", "mpd.slice.0-999")
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor
        )
        assert requested(result) == DOWNSTREAM
        # Handled: the next evaluation does not ask again.
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor
        )
        assert requested(result) == set()


def test_a_rebuilt_graph_refreshes_only_what_depends_on_it():
    with dg.instance_for_test() as instance:
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        materialised(instance, "cooccurrence_edges")
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor
        )
        assert requested(result) == {
            "gcn_embeddings",
            "feature_mlp",
            "playlist_vectors",
            "embedding_map",
            # the ranker's embedding features come from the GCN: it retrains, and is evaluated
            "playlist_ranker",
            "recommendation_eval",
            "published_version",
        }


def test_a_retrained_ranker_is_published_and_evaluated():
    with dg.instance_for_test() as instance:
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        materialised(instance, "playlist_ranker")
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor
        )
        assert requested(result) == {"published_version", "recommendation_eval"}
