"""Resources, chosen from the environment in one place.

Local default: data under `ALGORHYTHMS_DATA_DIR` (./data), Spark `local[*]`, an embedded
PostgreSQL with pgvector under the data folder. A scaled deployment sets `SPARK_MASTER`,
`ALGORHYTHMS_WAREHOUSE` (e.g. s3a://bucket/warehouse), `ALGORHYTHMS_MPD_DIR` and `DATABASE_URL`
without touching the code.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from dagster_pyspark import PySparkResource

from algorhythms_ml.mpd.slices import slice_file_name, slice_files, slice_folder
from algorhythms_ml.spark import spark_conf_from_env
from algorhythms_ml.warehouse import Warehouse
from algorhythms_store.database import data_dir, resolve_url


class WarehouseResource(dg.ConfigurableResource):
    """Where the Parquet tables live: a local folder or any URI Spark and pyarrow understand."""

    root: str

    def warehouse(self) -> Warehouse:
        return Warehouse.at(self.root)


class MpdSourceResource(dg.ConfigurableResource):
    """The folder that MPD slice files (`mpd.slice.<a>-<b>.json`) are dropped into."""

    path: str

    def slice_files(self) -> dict[str, Path]:
        """Partition key -> file, for every slice file in the folder (`.json` or `.json.gz`,
        in the folder or in its `data/`, the official archive's layout)."""
        return slice_files(Path(self.path))

    def file_for(self, key: str) -> Path:
        """The file of a slice (a path that does not exist when the file is gone)."""
        return self.slice_files().get(key) or slice_folder(Path(self.path)) / slice_file_name(key)


class DatabaseResource(dg.ConfigurableResource):
    """The published PostgreSQL + pgvector database: `url`, or else an embedded server whose data
    lives in `<data_dir>/postgres`, started on demand."""

    url: str | None = None
    data_dir: str

    def resolve_url(self) -> str:
        return resolve_url(self.url, Path(self.data_dir))


def build_resources() -> dict[str, object]:
    root = data_dir()
    return {
        "pyspark": PySparkResource(spark_config=spark_conf_from_env()),
        "warehouse": WarehouseResource(
            root=os.environ.get("ALGORHYTHMS_WAREHOUSE", str(root / "warehouse"))
        ),
        "mpd_source": MpdSourceResource(
            path=os.environ.get("ALGORHYTHMS_MPD_DIR", str(root / "mpd"))
        ),
        "database": DatabaseResource(
            url=dg.EnvVar("DATABASE_URL") if os.environ.get("DATABASE_URL") else None,
            data_dir=str(root),
        ),
    }
