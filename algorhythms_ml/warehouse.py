"""The Parquet warehouse: one root URI (a local folder or any URI Spark understands), one folder
a table, one `slice=<key>` folder a partition of a partitioned table.

File operations go through Hadoop's FileSystem API, so the same code moves folders on a local
disk, HDFS or S3A. Partitions are replaced by writing under `_staging/` and renaming into place.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

PARTITION_COLUMN = "slice"


def normalise_root(root: str | Path) -> str:
    text = str(root)
    if "://" in text:
        return text.rstrip("/")
    return Path(text).expanduser().resolve().as_uri()


@dataclass(frozen=True)
class Warehouse:
    """Table locations under one root URI."""

    root: str

    @classmethod
    def at(cls, root: str | Path) -> Warehouse:
        return cls(normalise_root(root))

    def table(self, name: str) -> str:
        return f"{self.root}/{name}"

    def partition(self, name: str, key: str) -> str:
        return f"{self.table(name)}/{PARTITION_COLUMN}={key}"

    def staging(self) -> str:
        return f"{self.root}/_staging/{uuid.uuid4().hex}"

    def local_path(self, name: str) -> Path:
        """The table's folder as a local path (only for a file:// warehouse)."""
        if not self.root.startswith("file:"):
            raise ValueError(f"warehouse {self.root} is not on the local disk")
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(self.table(name)).path))


class FileSystem:
    """Hadoop FileSystem operations on URIs, through the session's JVM."""

    def __init__(self, spark: SparkSession):
        self._jvm = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _fs_path(self, uri: str):
        path = self._jvm.org.apache.hadoop.fs.Path(uri)
        return path.getFileSystem(self._conf), path

    def exists(self, uri: str) -> bool:
        fs, path = self._fs_path(uri)
        return bool(fs.exists(path))

    def delete(self, uri: str) -> None:
        fs, path = self._fs_path(uri)
        if fs.exists(path):
            fs.delete(path, True)

    def move(self, src: str, dst: str) -> None:
        """Replace `dst` with `src`."""
        fs, src_path = self._fs_path(src)
        _, dst_path = self._fs_path(dst)
        if fs.exists(dst_path):
            fs.delete(dst_path, True)
        fs.mkdirs(dst_path.getParent())
        if not fs.rename(src_path, dst_path):
            raise OSError(f"could not move {src} to {dst}")

    def children(self, uri: str) -> list[str]:
        fs, path = self._fs_path(uri)
        if not fs.exists(path):
            return []
        return [str(s.getPath().getName()) for s in fs.listStatus(path)]


def has_data(spark: SparkSession, uri: str) -> bool:
    fs = FileSystem(spark)
    return any(not c.startswith(("_", ".")) for c in fs.children(uri))


def read_table(spark: SparkSession, uri: str, schema: StructType) -> DataFrame:
    """Read a Parquet table, or an empty frame of `schema` when nothing is there yet."""
    if not has_data(spark, uri):
        return spark.createDataFrame([], schema)
    return spark.read.parquet(uri)


def _arrow_fs(uri: str):
    import pyarrow.fs as pafs

    return pafs.FileSystem.from_uri(uri.replace("s3a://", "s3://", 1))


def write_bytes(uri: str, data: bytes) -> None:
    """Write a file at `uri` (local or object store), replacing it."""
    fs, path = _arrow_fs(uri)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as out:
        out.write(data)


def read_bytes(uri: str) -> bytes:
    fs, path = _arrow_fs(uri)
    with fs.open_input_stream(path) as src:
        return src.read()


def read_parquet(uri: str, columns: list[str] | None = None):
    """A Parquet table (file or folder) as pandas, without Spark."""
    import pyarrow.dataset as ds

    fs, path = _arrow_fs(uri)
    return (
        ds.dataset(path, filesystem=fs, format="parquet", partitioning="hive")
        .to_table(columns=columns)
        .to_pandas()
    )


def write_parquet(uri: str, table) -> None:
    """Write a pyarrow Table as a single-file Parquet table folder at `uri`, replacing it."""
    import pyarrow.parquet as pq

    fs, path = _arrow_fs(uri)
    tmp = path.rstrip("/") + ".tmp"
    fs.delete_dir_contents(tmp, missing_dir_ok=True)
    fs.create_dir(tmp, recursive=True)
    pq.write_table(table, f"{tmp}/part-0.parquet", filesystem=fs)
    try:
        fs.delete_dir(path)
    except FileNotFoundError:
        pass
    fs.move(tmp, path)
