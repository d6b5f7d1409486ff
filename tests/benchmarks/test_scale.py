"""The scale benchmark's bookkeeping: memory samples attributed to the steps that ran, the time
outside steps, rows read from metadata, and the growth table with its flag."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "scale.py"


@pytest.fixture(scope="module")
def scale():
    spec = importlib.util.spec_from_file_location("scale_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def _step(scale, name, start, end, rows=None, kind="asset"):
    return scale.Step(name, kind, "build", end - start, [(start, end)], rows=rows)


def test_samples_are_attributed_to_the_step_running_at_their_time(scale):
    steps = [_step(scale, "edges", 10.0, 20.0), _step(scale, "check", 20.0, 25.0, kind="check")]
    samples = [
        scale.Sample(9.5, driver=900, spark=900, postgres=0),  # before both: counts for neither
        scale.Sample(12.0, driver=100, spark=500, postgres=0),
        scale.Sample(18.0, driver=300, spark=200, postgres=7),
        scale.Sample(22.0, driver=50, spark=800, postgres=0),
    ]
    scale.attribute_peaks(steps, samples)
    assert (steps[0].peak_driver, steps[0].peak_spark, steps[0].peak_postgres) == (300, 500, 7)
    assert (steps[1].peak_driver, steps[1].peak_spark) == (50, 800)


def test_a_step_shorter_than_the_sampling_interval_takes_the_nearest_sample(scale):
    step = _step(scale, "quick", 10.1, 10.2)
    samples = [scale.Sample(9.0, 1, 1, 0), scale.Sample(10.3, 40, 60, 0)]
    scale.attribute_peaks([step], samples)
    assert (step.peak_driver, step.peak_spark) == (40, 60)


def test_gaps_are_the_parts_of_a_run_outside_its_steps(scale):
    assert scale._gaps((0.0, 10.0), [(2.0, 4.0), (4.0, 5.0), (7.0, 9.0)]) == [
        (0.0, 2.0),
        (5.0, 7.0),
        (9.0, 10.0),
    ]
    assert scale._gaps((0.0, 3.0), [(0.0, 3.0)]) == []


def test_rows_come_from_the_fields_each_asset_counts_its_output_in(scale):
    assert scale.rows_written("track_neighbors", {"tracks": 5, "rows": 40, "seconds": 1.5}) == 40
    playlist_tables = {"rows_playlist_members": 10, "rows_track_stats": 3, "seconds": 2.0}
    assert scale.rows_written("playlist_tables", playlist_tables) == 13
    assert scale.rows_written("cooccurrence_edges", {"nodes": 9, "edges_directed": 70}) == 70
    assert scale.rows_written("feature_mlp", {"epochs": 3, "seconds": 1.0}) is None


def test_the_ranker_reports_its_fold_gcns_as_a_part_of_its_time(scale):
    metadata = [{"seconds": 90.0, "fold_gcn_seconds": [20.5, 19.5]}]
    assert scale.step_parts("playlist_ranker", metadata) == {"fold GCNs": 40.0}
    assert scale.step_parts("playlist_ranker", [{"seconds": 9.0}]) == {}
    assert scale.step_parts("gcn_embeddings", metadata) == {}


def test_sampler_reads_a_process_tree_until_it_ends(scale, tmp_path):
    # A parent holding ~50 MB with a child: no JVM and no PostgreSQL, so all of it is driver.
    child = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(2)'])\n"
        "held = b'x' * 50_000_000\n"
        "time.sleep(2)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", child])
    sampler = scale.MemorySampler(process.pid, tmp_path)
    sampler.start()
    process.wait()
    samples = sampler.stop()
    assert len(samples) >= 2
    assert max(s.driver for s in samples) > 50_000_000
    assert all(s.spark == 0 and s.postgres == 0 for s in samples)
    assert [s.time for s in samples] == sorted(s.time for s in samples)


def _size(scale, playlists, seconds_and_rows):
    steps = [
        _step(scale, name, 0.0, seconds, rows) for name, (seconds, rows) in seconds_and_rows.items()
    ]
    return scale.SizeFigures(playlists, 1.0, 10.0, 0, steps, 0, 0, 0, 0, 0, 0)


def test_growth_flags_time_growing_faster_than_the_scaled_threshold(scale):
    sizes = [
        _size(scale, 2000, {"edges": (10.0, 100), "ranker": (5.0, None)}),
        _size(scale, 1000, {"edges": (4.0, 50), "ranker": (5.0, None)}),
        _size(scale, 4000, {"edges": (21.0, 300), "new": (1.0, 1)}),
    ]
    growth = {(g.name, g.playlists_to): g for g in scale.growth_table(sizes)}
    assert set(growth) == {("edges", 2000), ("ranker", 2000), ("edges", 4000)}
    doubling = growth[("edges", 2000)]
    assert (doubling.size_ratio, doubling.seconds_ratio, doubling.rows_ratio) == (2.0, 2.5, 2.0)
    assert doubling.flagged  # 2.5x > 1.1 x 2
    assert not growth[("edges", 4000)].flagged  # 2.1x <= 2.2x
    assert growth[("edges", 4000)].rows_ratio == 3.0
    assert growth[("ranker", 2000)].rows_ratio is None and not growth[("ranker", 2000)].flagged


def test_extrapolation_carries_the_two_largest_sizes_on_by_their_growth(scale):
    sizes = [
        _size(scale, 1000, {"edges": (99.0, 1), "fixed": (5.0, None)}),
        _size(scale, 2000, {"edges": (10.0, 100), "fixed": (5.0, None), "shrank": (4.0, 10)}),
        _size(scale, 4000, {"edges": (40.0, 200), "fixed": (5.0, None), "shrank": (2.0, 10)}),
    ]
    rows = {r.name: r for r in scale.extrapolate(sizes, 16000)}
    assert set(rows) == {"edges", "fixed", "shrank"}
    edges = rows["edges"]  # 4x the time and 2x the rows per doubling: exponents 2 and 1
    assert edges.time_exponent == pytest.approx(2.0)
    assert edges.seconds == pytest.approx(40.0 * 16) and edges.rows == 800
    assert rows["fixed"].time_exponent == 0.0 and rows["fixed"].seconds == 5.0
    assert rows["fixed"].rows is None
    assert rows["shrank"].time_exponent == 0.0 and rows["shrank"].seconds == 2.0  # not below
    assert scale.extrapolate(sizes, 4000) == [] and scale.extrapolate(sizes[:1], 8000) == []
