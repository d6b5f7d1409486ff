"""int4[] and float4[] written by binary COPY from numpy arrays, read back by a real PostgreSQL."""

import numpy as np
import psycopg
import pytest

from algorhythms_store import binary_arrays
from tests.conftest import create_database

VALUES = [
    (np.array([3, 1, 2], np.int32), np.array([0.5, -1.25, 3e-8], np.float32)),
    (np.array([], np.int32), np.array([], np.float32)),  # empty
    ([2**31 - 1, -(2**31)], [float("inf"), -0.0]),  # lists, int4's ends
    (np.array([7], np.int64), np.array([np.nan])),  # wider dtypes
    (np.arange(1000, dtype=np.int32), np.linspace(0, 1, 1000, dtype=np.float32)),
]


def copy_rows(url: str, rows) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS arrays")
        conn.execute("CREATE TABLE arrays (i integer, ids integer[], weights real[])")
        with conn.cursor() as cur:
            binary_arrays.register(cur)
            with cur.copy("COPY arrays FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["int4", "int4[]", "float4[]"])
                for i, (ids, weights) in enumerate(rows):
                    copy.write_row((i, ids, weights))
        return conn.execute("SELECT ids, weights FROM arrays ORDER BY i").fetchall()


def test_arrays_read_back_as_written(postgres_server):
    url = create_database(postgres_server, "binary_arrays")
    back = copy_rows(url, VALUES)
    assert len(back) == len(VALUES)
    for (ids, weights), (got_ids, got_weights) in zip(VALUES, back, strict=True):
        assert got_ids == np.asarray(ids).tolist()
        np.testing.assert_array_equal(
            np.array(got_weights, np.float32), np.asarray(weights, np.float32)
        )
    # the same values as psycopg's own list dumper writes
    with psycopg.connect(url) as conn:
        plain = conn.execute(
            "SELECT %b::int4[], %b::float4[]", [[3, 1, 2], [0.5, -1.25]]
        ).fetchone()
    assert copy_rows(url, [([3, 1, 2], [0.5, -1.25])])[0] == plain


@pytest.mark.parametrize(
    ("values", "element", "message"),
    [
        (np.array([2**31]), "int4", "out of range"),
        (np.array([-(2**31) - 1]), "int4", "out of range"),
        (np.array([1.5]), "int4", "integers"),
        (np.zeros((2, 2), np.int32), "int4", "one dimension"),
        ([1, None], "float4", "without nulls"),
        (np.array([1e39]), "float4", "out of range"),
    ],
)
def test_what_the_arrays_cannot_hold_is_refused(values, element, message):
    with pytest.raises(psycopg.DataError, match=message):
        binary_arrays.array_bytes(values, element)
