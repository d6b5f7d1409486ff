"""Ingest MPD slice files into the Parquet tables `playlists`, `playlist_tracks` and `quarantine`.

One Spark pass parses every file: each file is one multi-line JSON document, its playlists are
first taken as raw JSON text and then parsed record by record, so that one bad record cannot
spoil its file. Only `pid` and `tracks[].track_uri` are required; every other field may be
absent (a trimmed MPD copy) and becomes null. A record that breaks a rule goes to `quarantine`
with its reason and raw text. A file that is not valid JSON at all produces nothing and is
reported with the position of the error, so its partition fails while the others are written.

Each file is one partition (`slice=<key>`); writing a partition replaces it whole, so re-runs
never duplicate rows.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, Row, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from algorhythms_ml.mpd.slices import SUFFIX, slice_key
from algorhythms_ml.warehouse import PARTITION_COLUMN, FileSystem, Staging, Warehouse
from algorhythms_store.progress import Progress

PLAYLISTS = "playlists"
PLAYLIST_TRACKS = "playlist_tracks"
QUARANTINE = "quarantine"
TABLES = (PLAYLISTS, PLAYLIST_TRACKS, QUARANTINE)

TRACK_URI_PATTERN = r"^spotify:track:[0-9A-Za-z]+$"
INT_PATTERN = r"^-?[0-9]+$"

_FILE_SCHEMA = T.StructType(
    [
        T.StructField("info", T.StringType()),
        T.StructField("playlists", T.ArrayType(T.StringType())),
        T.StructField("_corrupt_record", T.StringType()),
    ]
)
PLAYLIST_INT_FIELDS = (
    "modified_at",
    "num_tracks",
    "num_albums",
    "num_followers",
    "num_edits",
    "duration_ms",
    "num_artists",
)
_PLAYLIST_SCHEMA = T.StructType(
    [T.StructField(n, T.StringType()) for n in ("pid", "name", "description", "collaborative")]
    + [T.StructField(n, T.StringType()) for n in PLAYLIST_INT_FIELDS]
    + [T.StructField("tracks", T.StringType())]
)
TRACK_FIELDS = (
    "pos",
    "track_uri",
    "track_name",
    "artist_uri",
    "artist_name",
    "album_uri",
    "album_name",
    "duration_ms",
)
_TRACKS_SCHEMA = T.ArrayType(T.StructType([T.StructField(n, T.StringType()) for n in TRACK_FIELDS]))

PLAYLISTS_SCHEMA = T.StructType(
    [
        T.StructField("pid", T.LongType()),
        T.StructField("name", T.StringType()),
        T.StructField("description", T.StringType()),
        T.StructField("collaborative", T.BooleanType()),
    ]
    + [
        T.StructField(n, T.LongType() if n in ("modified_at", "duration_ms") else T.IntegerType())
        for n in PLAYLIST_INT_FIELDS
    ]
    + [T.StructField(PARTITION_COLUMN, T.StringType())]
)
PLAYLIST_TRACKS_SCHEMA = T.StructType(
    [
        T.StructField("pid", T.LongType()),
        T.StructField("pos", T.IntegerType()),
        T.StructField("track_uri", T.StringType()),
        T.StructField("track_name", T.StringType()),
        T.StructField("artist_uri", T.StringType()),
        T.StructField("artist_name", T.StringType()),
        T.StructField("album_uri", T.StringType()),
        T.StructField("album_name", T.StringType()),
        T.StructField("duration_ms", T.IntegerType()),
        T.StructField(PARTITION_COLUMN, T.StringType()),
    ]
)
QUARANTINE_SCHEMA = T.StructType(
    [
        T.StructField("file", T.StringType()),
        T.StructField("record_index", T.IntegerType()),
        T.StructField("pid", T.StringType()),
        T.StructField("reason", T.StringType()),
        T.StructField("raw", T.StringType()),
        T.StructField(PARTITION_COLUMN, T.StringType()),
    ]
)


@dataclass
class SliceStats:
    key: str
    file: str
    playlists: int = 0
    tracks: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    lengths: list[int] = field(default_factory=list)  # playlist lengths, for histograms


@dataclass
class FileError:
    key: str
    file: str
    message: str


@dataclass
class IngestResult:
    written: dict[str, SliceStats]
    failed: dict[str, FileError]


def _int_or_null(col: F.Column, dtype: str = "int") -> F.Column:
    return F.when(F.trim(col).rlike(INT_PATTERN), F.trim(col).cast(dtype))


def _parse(spark: SparkSession, files: list[str]) -> DataFrame:
    """One row per playlist record (or per unreadable file), with validation outcome."""
    docs = (
        spark.read.schema(_FILE_SCHEMA)
        .option("multiLine", True)
        .option("mode", "PERMISSIVE")
        .json(files)
        .withColumn("file", F.input_file_name())
    )
    corrupt = docs.where(F.col("_corrupt_record").isNotNull() | F.col("playlists").isNull()).select(
        "file",
        F.lit(-1).alias("record_index"),
        F.lit(None).cast("string").alias("raw"),
    )
    records = docs.where(F.col("_corrupt_record").isNull()).select(
        "file", F.posexplode("playlists").alias("record_index", "raw")
    )
    rows = records.unionByName(corrupt).withColumn("p", F.from_json("raw", _PLAYLIST_SCHEMA))
    rows = rows.withColumn("t", F.from_json("p.tracks", _TRACKS_SCHEMA))
    bad_track = F.expr(
        f"array_position(transform(t, x -> x IS NULL OR x.track_uri IS NULL "
        f"OR NOT x.track_uri RLIKE '{TRACK_URI_PATTERN}'), true)"
    )
    bad_uri = F.element_at(F.col("t"), bad_track.cast("int")).getField("track_uri")
    reason = (
        F.when(F.col("record_index") < 0, F.lit("corrupt file"))
        .when(
            F.col("p").isNull() | ~F.ltrim("raw").startswith("{"),
            F.lit("record is not a JSON object"),
        )
        .when(F.col("p.pid").isNull(), F.lit("missing pid"))
        .when(
            ~F.trim("p.pid").rlike(INT_PATTERN),
            F.concat(F.lit("pid is not an integer: "), F.substring("p.pid", 1, 40)),
        )
        .when(F.col("p.tracks").isNull(), F.lit("missing tracks"))
        .when(F.col("t").isNull(), F.lit("tracks is not a list of track objects"))
        .when(
            bad_track > 0,
            F.when(
                bad_uri.isNull(),
                F.format_string("tracks[%d].track_uri missing", bad_track - 1),
            ).otherwise(
                F.format_string("tracks[%d].track_uri is not a Spotify track URI", bad_track - 1)
            ),
        )
    )
    rows = rows.withColumn("reason", reason).withColumn("pid", _int_or_null(F.col("p.pid"), "long"))
    # A pid seen earlier in the same file: keep the first record, quarantine the rest.
    first = Window.partitionBy("file", "pid").orderBy("record_index")
    first_index = F.min(F.when(F.col("reason").isNull(), F.col("record_index"))).over(first)
    rows = rows.withColumn(
        "reason",
        F.when(
            F.col("reason").isNull() & (F.col("record_index") > first_index),
            F.format_string("duplicate pid (first at record %d)", first_index),
        ).otherwise(F.col("reason")),
    )
    return rows


def _partition_col() -> F.Column:
    # The Spark form of slices.slice_key: the file name without its suffix.
    name = F.regexp_extract("file", r"([^/]+)$", 1)
    return F.regexp_replace(name, re.escape(SUFFIX) + "$", "").alias(PARTITION_COLUMN)


def _playlists(valid: DataFrame) -> DataFrame:
    ints = [
        _int_or_null(
            F.col(f"p.{n}"), "long" if n in ("modified_at", "duration_ms") else "int"
        ).alias(n)
        for n in PLAYLIST_INT_FIELDS
    ]
    collaborative = F.lower(F.trim("p.collaborative"))
    return valid.select(
        "pid",
        F.col("p.name").alias("name"),
        F.col("p.description").alias("description"),
        F.when(collaborative == "true", True)
        .when(collaborative == "false", False)
        .alias("collaborative"),
        *ints,
        _partition_col(),
    )


def _playlist_tracks(valid: DataFrame) -> DataFrame:
    exploded = valid.select("pid", "file", F.posexplode("t").alias("index", "x"))
    return exploded.select(
        "pid",
        F.coalesce(_int_or_null(F.col("x.pos")), F.col("index")).alias("pos"),
        *[F.col(f"x.{n}").alias(n) for n in TRACK_FIELDS if n not in ("pos", "duration_ms")],
        _int_or_null(F.col("x.duration_ms")).alias("duration_ms"),
        _partition_col(),
    )


def _quarantine(bad: DataFrame) -> DataFrame:
    return bad.select(
        "file",
        F.col("record_index").cast("int"),
        F.col("p.pid").alias("pid"),
        "reason",
        "raw",
        _partition_col(),
    )


def _json_error(spark: SparkSession, file: str) -> str:
    """Where a file stops being valid JSON, in the words of Python's parser."""
    text = spark.read.text(file, wholetext=True).first()
    if text is None or not text[0].strip():
        return "file is empty"
    try:
        doc = json.loads(text[0])
    except json.JSONDecodeError as exc:
        return f"invalid JSON at line {exc.lineno} column {exc.colno} (char {exc.pos}): {exc.msg}"
    if not isinstance(doc, dict) or not isinstance(doc.get("playlists"), list):
        return 'not an MPD slice: no "playlists" list at the top level'
    return "unreadable by Spark's JSON reader"


def _without_raw_text_of_valid_records(parsed: DataFrame) -> DataFrame:
    """Raw text is kept only where a record is quarantined; parsed tracks replace the text."""
    return parsed.withColumn("p", F.col("p").dropFields("tracks")).withColumn(
        "raw", F.when(F.col("reason").isNotNull(), F.col("raw"))
    )


def _file_summary(parsed: DataFrame) -> list[Row]:
    """Per file: whether it is corrupt, and its valid playlists and tracks."""
    valid = F.col("reason").isNull()
    return (
        parsed.groupBy("file")
        .agg(
            F.max(F.when(F.col("reason") == "corrupt file", 1).otherwise(0)).alias("corrupt"),
            F.sum(F.when(valid, 1).otherwise(0)).alias("playlists"),
            F.sum(F.when(valid, F.size("t")).otherwise(0)).alias("tracks"),
        )
        .collect()
    )


def _file_failures(
    spark: SparkSession, summary: list[Row], log: logging.Logger
) -> dict[str, FileError]:
    """The files that are not valid JSON, by key, with where they stop being valid."""
    failed: dict[str, FileError] = {}
    for row in summary:
        if row["corrupt"]:
            key = slice_key(row["file"])
            failed[key] = FileError(key, row["file"], _json_error(spark, row["file"]))
            log.error("%s: %s", row["file"], failed[key].message)
    return failed


def _slice_stats(
    files: dict[str, str],
    summary: list[Row],
    parsed: DataFrame,
    valid: DataFrame,
    failed: dict[str, FileError],
) -> dict[str, SliceStats]:
    """Playlists, tracks, quarantine reasons and playlist lengths of every slice written."""
    by_key = {slice_key(r["file"]): r for r in summary}
    stats: dict[str, SliceStats] = {}
    for key, file in files.items():
        if key in failed:
            continue
        row = by_key.get(key)
        stats[key] = SliceStats(
            key=key,
            file=file,
            playlists=int(row["playlists"]) if row else 0,
            tracks=int(row["tracks"]) if row else 0,
        )
    reasons = (
        parsed.where(F.col("reason").isNotNull() & (F.col("reason") != "corrupt file"))
        .groupBy("file", "reason")
        .count()
        .collect()
    )
    for row in reasons:
        s = stats[slice_key(row["file"])]
        generic = row["reason"].split(":")[0]
        s.reasons[generic] = s.reasons.get(generic, 0) + int(row["count"])
        s.quarantined += int(row["count"])
    for row in valid.select("file", F.size("t").alias("n")).collect():
        stats[slice_key(row["file"])].lengths.append(int(row["n"]))
    return stats


def _replace_partitions(
    fs: FileSystem,
    warehouse: Warehouse,
    staged: Staging,
    stats: dict[str, SliceStats],
    log: logging.Logger,
) -> None:
    """Move each written slice's staged partitions into place (or drop a table's partition the
    slice no longer has rows for)."""
    for key, s in Progress(len(stats), "slices moved into place", log).each(stats.items()):
        for name in TABLES:
            src = staged.path(f"{name}/{PARTITION_COLUMN}={key}")
            if fs.exists(src):
                fs.move(src, warehouse.partition(name, key))
            else:
                fs.delete(warehouse.partition(name, key))
        log.info(
            "%s: %d playlists, %d tracks, %d quarantined", key, s.playlists, s.tracks, s.quarantined
        )


def ingest_slices(
    spark: SparkSession,
    files: list[str],
    warehouse: Warehouse,
    log: logging.Logger | None = None,
) -> IngestResult:
    """Parse `files` (URIs of MPD slice files) and replace their partitions in the warehouse."""
    log = log or logging.getLogger(__name__)
    if not files:
        return IngestResult({}, {})
    by_key = {slice_key(f): f for f in files}
    if len(by_key) != len(files):
        raise ValueError("two slice files share a partition key (the same file name)")
    with Staging(spark, warehouse) as staging:
        parsed = staging.stage("parsed", _without_raw_text_of_valid_records(_parse(spark, files)))
        summary = _file_summary(parsed)
        failed = _file_failures(spark, summary, log)
        good = parsed.where(~F.col("file").isin([e.file for e in failed.values()]))
        valid = good.where(F.col("reason").isNull())
        outputs = {
            PLAYLISTS: _playlists(valid),
            PLAYLIST_TRACKS: _playlist_tracks(valid),
            QUARANTINE: _quarantine(good.where(F.col("reason").isNotNull())),
        }
        for name, frame in outputs.items():
            frame.write.partitionBy(PARTITION_COLUMN).parquet(staging.path(name))
        stats = _slice_stats(by_key, summary, parsed, valid, failed)
        _replace_partitions(FileSystem(spark), warehouse, staging, stats, log)
    return IngestResult(stats, failed)


def drop_partitions(spark: SparkSession, warehouse: Warehouse, keys: list[str]) -> None:
    """Remove the partitions of `keys` from every ingestion table."""
    fs = FileSystem(spark)
    for key in keys:
        for name in TABLES:
            fs.delete(warehouse.partition(name, key))
