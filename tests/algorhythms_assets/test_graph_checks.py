"""The symmetry check of the co-occurrence edges, on small tables with a real SparkSession."""

import pytest

from algorhythms_assets.checks.graph import rows_without_mirror

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
