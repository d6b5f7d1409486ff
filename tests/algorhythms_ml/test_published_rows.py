import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from algorhythms_ml import published_tables
from algorhythms_ml.published_tables import table_rows, track_neighbors
from algorhythms_ml.warehouse import Warehouse
from algorhythms_store.neighbor_lists import NotClustered
from algorhythms_store.schema import TRACK_NEIGHBORS, TRACK_STATS, published_table


def test_a_table_of_several_files_read_in_batches_keeps_every_row_in_column_order_nulls_as_none(
    tmp_path, monkeypatch
):
    warehouse = Warehouse.at(str(tmp_path / "warehouse"))
    columns = [c.name for c in published_table(TRACK_STATS).row_columns]
    folder = tmp_path / "warehouse" / TRACK_STATS
    folder.mkdir(parents=True)
    expected = []
    for part in range(3):  # a table of several files, as Spark writes it
        n = 5 + part
        data = {c: [part * 100 + i for i in range(n)] for c in columns}
        data[columns[-1]][0] = None
        expected += list(zip(*(data[c] for c in columns), strict=True))
        # the file's own column order differs from the published one
        table = pa.table({c: pa.array(data[c], pa.int64()) for c in reversed(columns)})
        pq.write_table(table, folder / f"part-{part:05d}.parquet")
    monkeypatch.setattr(published_tables, "BATCH_ROWS", 4)
    got = list(table_rows(warehouse, TRACK_STATS))
    assert sorted(got, key=lambda r: r[0]) == sorted(expected, key=lambda r: r[0])
    assert sum(r[-1] is None for r in got) == 3


def write_neighbors(tmp_path, files: list[list[tuple[int, int, float]]]) -> Warehouse:
    folder = tmp_path / "warehouse" / TRACK_NEIGHBORS
    folder.mkdir(parents=True)
    for i, rows in enumerate(files):
        src, dst, weight = zip(*rows, strict=True)
        table = pa.table(
            {
                "src": pa.array(src, pa.int32()),
                "dst": pa.array(dst, pa.int32()),
                "weight": pa.array(weight, pa.float32()),
                "count": pa.array([1] * len(rows)),
            }
        )
        pq.write_table(table, folder / f"part-{i:05d}.parquet")
    return Warehouse.at(str(tmp_path / "warehouse"))


def test_track_neighbors_are_published_as_one_list_per_track_from_clustered_files(
    tmp_path, monkeypatch
):
    # two files as the co-occurrence pass writes them: each track's rows in one file, together
    warehouse = write_neighbors(
        tmp_path,
        [[(5, 1, 0.2), (5, 2, 0.9), (5, 3, 0.2), (9, 4, 0.5)], [(2, 5, 0.1), (2, 9, 0.3)]],
    )
    monkeypatch.setattr(published_tables, "BATCH_ROWS", 1)  # lists across batches
    got = {
        s: (d.tolist(), np.round(w.astype(float), 3).tolist())
        for s, d, w in track_neighbors(warehouse)
    }
    assert got == {5: ([2, 1, 3], [0.9, 0.2, 0.2]), 9: ([4], [0.5]), 2: ([9, 5], [0.3, 0.1])}


def test_track_neighbors_not_clustered_by_track_say_how_to_rebuild_them(tmp_path):
    warehouse = write_neighbors(tmp_path, [[(5, 1, 0.2), (9, 4, 0.5), (5, 2, 0.9)]])
    with pytest.raises(NotClustered, match="Materialise cooccurrence_edges again"):
        list(track_neighbors(warehouse))
