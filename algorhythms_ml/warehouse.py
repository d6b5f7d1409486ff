"""The Parquet warehouse: one root URI (a local folder or any URI Spark understands), one folder
a table, one `slice=<key>` folder a partition of a partitioned table.

File operations go through Hadoop's FileSystem API, so the same code moves folders on a local
disk, HDFS or S3A. Tables and partitions are replaced by writing under `_staging/` and renaming
into place (`Staging`), so a reader never sees a half-written table.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

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


@dataclass(frozen=True)
class WrittenTable:
    """A table written under staging: its rows read back from there, and how many there are."""

    frame: DataFrame
    rows: int


class Staging:
    """A scratch folder under the warehouse's `_staging/`, used as a context manager.

    `stage` keeps an intermediate result there; `write_tables` writes tables there. Like a
    transaction, the tables move into place only when the block ends without an error (so every
    one of them was written, and the statistics read from them were computed); the folder is
    deleted however the block ends.
    """

    def __init__(self, spark: SparkSession, warehouse: Warehouse):
        self._spark = spark
        self._warehouse = warehouse
        self._fs = FileSystem(spark)
        self.uri = warehouse.staging()
        self._tables: dict[str, str] = {}  # table name -> its staged folder

    def __enter__(self) -> Staging:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                for name, uri in self._tables.items():
                    self._fs.move(uri, self._warehouse.table(name))
        finally:
            self._fs.delete(self.uri)

    def path(self, name: str) -> str:
        return f"{self.uri}/{name}"

    def write(self, name: str, frame: DataFrame) -> str:
        """Write `frame` as Parquet under the folder; return its URI."""
        uri = self.path(name)
        frame.write.parquet(uri)
        return uri

    def stage(self, name: str, frame: DataFrame) -> DataFrame:
        """`frame` written under the folder and read back: later steps read it more than once,
        and the plan behind it should run only once."""
        return self._spark.read.parquet(self.write(name, frame))

    def write_tables(self, tables: Mapping[str, DataFrame]) -> dict[str, WrittenTable]:
        """Write each frame as the warehouse table of its name, read it back and count its rows.

        A frame is written as it comes: a caller that wants a layout (`clustered`) applies it
        first. The tables replace the warehouse's when the block ends without an error.
        """
        written: dict[str, WrittenTable] = {}
        for name, frame in tables.items():
            uri = self.path(f"tables/{name}")
            frame.write.parquet(uri)
            self._tables[name] = uri
            back = self._spark.read.parquet(uri)
            written[name] = WrittenTable(back, back.count())
        return written


def clustered(frame: DataFrame, column: str, sort: tuple[str, ...] = ()) -> DataFrame:
    """`frame` hash-partitioned by `column` into as many parts as the session has cores, each
    part sorted by `sort`: all rows with one value of `column` are written to the same file."""
    laid_out = frame.repartition(frame.sparkSession.sparkContext.defaultParallelism, column)
    return laid_out.sortWithinPartitions(*sort) if sort else laid_out


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


def arrow_dataset(uri: str, schema=None):
    """The Parquet table (file or folder) at `uri` as a pyarrow dataset, read lazily: for
    reading a large table in batches. `schema` gives the columns of a table with no files."""
    import pyarrow.dataset as ds

    fs, path = _arrow_fs(uri)
    return ds.dataset(path, filesystem=fs, format="parquet", schema=schema)


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


def read_parquet(uri: str, columns: list[str] | None = None, where=None):
    """A Parquet table (file or folder) as pandas, without Spark; `where`: (column, values),
    only the rows whose column is one of the values, or a pyarrow dataset expression."""
    import pyarrow.dataset as ds

    fs, path = _arrow_fs(uri)
    rows = where
    if isinstance(where, tuple):
        rows = ds.field(where[0]).isin(list(where[1]))
    return (
        ds.dataset(path, filesystem=fs, format="parquet", partitioning="hive")
        .to_table(columns=columns, filter=rows)
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
