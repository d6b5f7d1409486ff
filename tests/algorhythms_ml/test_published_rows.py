import pyarrow as pa
import pyarrow.parquet as pq

from algorhythms_ml import published_tables
from algorhythms_ml.published_tables import table_rows
from algorhythms_ml.warehouse import Warehouse
from algorhythms_store.schema import TRACK_STATS, published_table


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
