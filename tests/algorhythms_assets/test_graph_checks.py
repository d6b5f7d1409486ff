"""The symmetry and endpoint checks of the co-occurrence edges, on small tables with a real
SparkSession."""

import pytest

from algorhythms_assets.checks.graph import rows_without_mirror, unknown_endpoints

SCHEMA = "src long, dst long, count long, weight double"
SYMMETRIC = [(1, 2, 3, 0.5), (2, 1, 3, 0.5), (1, 3, 1, 0.25), (3, 1, 1, 0.25)]


@pytest.mark.parametrize(
    ("rows", "unmatched"),
    [
        (SYMMETRIC, 0),
        (SYMMETRIC + SYMMETRIC, 0),  # every row still has its own mirror
        (SYMMETRIC[:3], 1),  # (1, 3) without (3, 1)
        (SYMMETRIC[:3] + [(3, 1, 1, 0.3)], 2),  # the mirror's weight differs
        (SYMMETRIC[:3] + [(3, 1, 2, 0.25)], 2),  # the mirror's count differs
        (SYMMETRIC + [(1, 2, 3, 0.5)], 1),  # one direction twice, the other once
        (SYMMETRIC + [(4, 5, 1, 1.0)] * 2 + [(6, 5, 1, 1.0)] * 2, 4),  # counts balance, rows not
    ],
)
def test_rows_without_a_mirror_are_counted(spark, rows, unmatched):
    assert rows_without_mirror(spark.createDataFrame(rows, SCHEMA)) == unmatched


@pytest.mark.parametrize(
    ("rows", "unknown"),
    [
        (SYMMETRIC, 0),
        (SYMMETRIC + [(1, 7, 1, 1.0)], 1),  # an unknown dst
        (SYMMETRIC + [(7, 1, 1, 1.0), (1, 7, 1, 1.0)], 1),  # the same track at both ends
        (SYMMETRIC + [(8, 9, 1, 1.0), (9, 8, 1, 1.0), (8, 2, 1, 1.0)], 2),
        ([], 0),
    ],
)
def test_endpoints_outside_the_track_table_are_counted_once_each(spark, rows, unknown):
    ids = spark.createDataFrame([(1,), (2,), (3,), (4,)], "track_id long")
    assert unknown_endpoints(spark.createDataFrame(rows, SCHEMA), ids) == unknown
