import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster_pyspark import PySparkResource

from algorhythms_assets.assets.graph import cooccurrence_edges
from algorhythms_assets.assets.mpd import raw_mpd_slices, track_metadata
from algorhythms_assets.definitions import defs
from algorhythms_assets.partitions import mpd_slices
from algorhythms_assets.resources import MpdSourceResource, WarehouseResource
from algorhythms_assets.sensors import mpd_slice_sensor


@pytest.fixture
def mpd_dir(generated_mpd: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "mpd"
    folder.mkdir()
    for name in ("mpd.slice.0-999.json", "mpd.slice.1000-1999.json"):
        shutil.copy(generated_mpd / name, folder / name)
    (folder / "mpd.slice.9000-9999.json").write_text('{"playlists": [{"pid": 1,,}]}')
    return folder


def materialize_slices(instance, resources: dict, keys: list[str]):
    """raw_mpd_slices over the partitions `keys` in one run, as `algorhythms materialize`."""
    return dg.materialize(
        [raw_mpd_slices],
        instance=instance,
        resources=resources,
        tags={
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
        },
        raise_on_error=False,
    )


def checks_of(*assets) -> list:
    """The project's asset checks that target these assets."""
    keys = {key for a in assets for key in a.keys}
    return [c for c in defs.asset_checks if {k.asset_key for k in c.check_keys} <= keys]


@pytest.fixture
def resources(spark, mpd_dir: Path, tmp_path: Path) -> dict:
    return {
        "pyspark": PySparkResource(spark_config={"spark.master": "local[2]"}),
        "warehouse": WarehouseResource(root=str(tmp_path / "warehouse")),
        "mpd_source": MpdSourceResource(path=str(mpd_dir)),
    }


def test_definitions_load_with_every_asset_check_and_sensor():
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {"raw_mpd_slices", "track_metadata", "cooccurrence_edges"} <= keys
    assert defs.resolve_sensor_def("mpd_slice_sensor") is not None
    check_names = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert {
        "check_raw_mpd_slices_unique_pid",
        "check_raw_mpd_slices_no_null_track_uri",
        "check_track_metadata_covers_playlist_tracks",
        "check_track_metadata_unique_ids",
        "check_cooccurrence_edges_no_self_loops",
        "check_cooccurrence_edges_weights_positive_finite",
        "check_cooccurrence_edges_endpoints_known",
        "check_cooccurrence_edges_symmetric",
    } <= check_names


def test_corrupt_slice_fails_its_partition_and_the_rest_materialise(resources, mpd_dir):
    with dg.instance_for_test() as instance:
        keys = sorted(MpdSourceResource(path=str(mpd_dir)).slice_files())
        instance.add_dynamic_partitions(mpd_slices.name, keys)
        result = materialize_slices(instance, resources, keys)
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        assert "mpd.slice.9000-9999.json: invalid JSON at line 1" in (
            failure.step_failure_data.error.message
        )
        materialised = instance.get_materialized_partitions(raw_mpd_slices.key)
        assert materialised == {"mpd.slice.0-999", "mpd.slice.1000-1999"}
        event = instance.get_latest_materialization_event(raw_mpd_slices.key)
        assert event.asset_materialization.metadata["playlists"].value == 1000

        (mpd_dir / "mpd.slice.9000-9999.json").unlink()
        result = dg.materialize(
            [raw_mpd_slices],
            instance=instance,
            resources=resources,
            partition_key="mpd.slice.0-999",
        )
        meta = result.asset_materializations_for_node("raw_mpd_slices")[0].metadata
        assert meta["playlists"].value == 1000 and meta["quarantined"].value == 0
        assert "playlist_length_histogram" in meta
        checks = result.get_asset_check_evaluations()
        assert {c.check_name for c in checks if c.passed} == {
            "check_raw_mpd_slices_unique_pid",
            "check_raw_mpd_slices_no_null_track_uri",
        }

        result = dg.materialize(
            [
                raw_mpd_slices,
                track_metadata,
                cooccurrence_edges,
                *checks_of(track_metadata, cooccurrence_edges),
            ],
            instance=instance,
            resources=resources,
            selection=["track_metadata", "cooccurrence_edges"],
            run_config={"ops": {"cooccurrence_edges": {"config": {"top_k": 20}}}},
        )
        assert result.success
        meta = result.asset_materializations_for_node("track_metadata")[0].metadata
        assert meta["playlist_tracks"].value > 100_000
        edges = result.asset_materializations_for_node("cooccurrence_edges")[0].metadata
        assert edges["nodes"].value > 10_000 and edges["degree"].data["min"] >= 1
        assert edges["distinct_pairs_before_pruning"].value * 2 > edges["edges_directed"].value
        checks = result.get_asset_check_evaluations()
        assert len(checks) == 6 and all(c.passed for c in checks)


def test_sensor_registers_new_slices_and_reruns_changed_ones(mpd_dir):
    source = MpdSourceResource(path=str(mpd_dir))
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"mpd_source": source})
        result = mpd_slice_sensor(context)
        new = ["mpd.slice.0-999", "mpd.slice.1000-1999", "mpd.slice.9000-9999"]
        assert [r.partition_key for r in result.run_requests] == new
        assert result.dynamic_partitions_requests[0].partition_keys == new
        instance.add_dynamic_partitions(mpd_slices.name, new)

        context = dg.build_sensor_context(
            instance=instance, resources={"mpd_source": source}, cursor=result.cursor
        )
        again = mpd_slice_sensor(context)
        assert not again.run_requests

        changed = mpd_dir / "mpd.slice.1000-1999.json"
        changed.write_text(changed.read_text())
        later = time.time() + 5
        os.utime(changed, (later, later))
        context = dg.build_sensor_context(
            instance=instance, resources={"mpd_source": source}, cursor=again.cursor
        )
        third = mpd_slice_sensor(context)
        assert [r.partition_key for r in third.run_requests] == ["mpd.slice.1000-1999"]
        assert not third.dynamic_partitions_requests


def test_bad_files_fail_alone_and_the_warehouse_agrees_with_dagster(spark, generated_mpd, tmp_path):
    """An empty slice, one with data after its document and one with an odd name next to good
    ones: the bad ones fail the run with their reasons, and the partitions in the warehouse are
    exactly those Dagster records as materialised."""
    import json

    import pandas as pd

    folder = tmp_path / "mpd"
    folder.mkdir()
    shutil.copy(generated_mpd / "mpd.slice.0-999.json", folder / "mpd.slice.0-999.json")
    copy = json.loads((generated_mpd / "mpd.slice.1000-1999.json").read_text())
    (folder / "mpd.slice.1000-1999 (copy).json").write_text(json.dumps(copy))
    (folder / "mpd.slice.2000-2999.json").write_bytes(b"")
    (folder / "mpd.slice.3000-3999.json").write_text(json.dumps(copy) + "\n]}")
    resources = {
        "pyspark": PySparkResource(spark_config={"spark.master": "local[2]"}),
        "warehouse": WarehouseResource(root=str(tmp_path / "warehouse")),
        "mpd_source": MpdSourceResource(path=str(folder)),
    }
    with dg.instance_for_test() as instance:
        keys = sorted(MpdSourceResource(path=str(folder)).slice_files())
        assert len(keys) == 4
        instance.add_dynamic_partitions(mpd_slices.name, keys)
        result = materialize_slices(instance, resources, keys)
        assert not result.success
        message = next(e for e in result.all_events if e.is_step_failure).step_failure_data
        assert "file is empty" in message.error.message
        assert "data after the JSON document" in message.error.message
        recorded = instance.get_materialized_partitions(raw_mpd_slices.key)
    written = set(pd.read_parquet(tmp_path / "warehouse" / "playlists", columns=["slice"])["slice"])
    assert recorded == written == {"mpd.slice.0-999", "mpd.slice.1000-1999 (copy)"}
