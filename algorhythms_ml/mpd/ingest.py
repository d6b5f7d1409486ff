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
from urllib.parse import unquote

from pyspark.sql import DataFrame, Row, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from algorhythms_ml.mpd.slices import slice_key
from algorhythms_ml.warehouse import PARTITION_COLUMN, FileSystem, Staging, Warehouse, read_table
from algorhythms_store.progress import Progress

PLAYLISTS = "playlists"
PLAYLIST_TRACKS = "playlist_tracks"
QUARANTINE = "quarantine"
TABLES = (PLAYLISTS, PLAYLIST_TRACKS, QUARANTINE)

EMPTY = "file is empty: no JSON document"
TRAILING = "data after the JSON document's closing brace"
BAD_NAME = (
    "the file name holds a character a partition key cannot (one of "
    "\" # % ' * / : = ? \\ { } [ ] ^ , or a control character): rename the file"
)
UNSAFE_KEY = re.compile(r"[\x00-\x1f\x7f\"#%'*/:=?\\{}\[\]^,]")

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
    """An integer field: null when it is not an integer or out of the type's range."""
    return F.when(F.trim(col).rlike(INT_PATTERN), F.trim(col).try_cast(dtype))


def _text(col: F.Column) -> F.Column:
    """A text field without NUL characters (PostgreSQL text cannot hold them): stripped."""
    return F.regexp_replace(col, "\u0000", "")


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
        .when(
            F.trim("p.pid").try_cast("long").isNull(),
            F.concat(F.lit("pid is out of range: "), F.substring("p.pid", 1, 40)),
        )
        .when(F.col("p.tracks").isNull(), F.lit("missing tracks"))
        .when(
            F.col("t").isNull() | ~F.ltrim("p.tracks").startswith("["),
            F.lit("tracks is not a list of track objects"),
        )
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


def _key_map(key_of: dict[str, str]) -> F.Column:
    """The partition key of each file, as Spark names the file (`input_file_name`)."""
    pairs = [F.lit(x) for item in sorted(key_of.items()) for x in item]
    return F.create_map(*pairs) if pairs else F.create_map().cast("map<string,string>")


def _with_key(frame: DataFrame, key_of: dict[str, str]) -> DataFrame:
    return frame.withColumn(PARTITION_COLUMN, _key_map(key_of)[F.col("file")])


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
        _text(F.col("p.name")).alias("name"),
        _text(F.col("p.description")).alias("description"),
        F.when(collaborative == "true", True)
        .when(collaborative == "false", False)
        .alias("collaborative"),
        *ints,
        PARTITION_COLUMN,
    )


def _playlist_tracks(valid: DataFrame) -> DataFrame:
    exploded = valid.select("pid", PARTITION_COLUMN, F.posexplode("t").alias("index", "x"))
    return exploded.select(
        "pid",
        F.coalesce(_int_or_null(F.col("x.pos")), F.col("index")).alias("pos"),
        *[_text(F.col(f"x.{n}")).alias(n) for n in TRACK_FIELDS if n not in ("pos", "duration_ms")],
        _int_or_null(F.col("x.duration_ms")).alias("duration_ms"),
        PARTITION_COLUMN,
    )


def _quarantine(bad: DataFrame) -> DataFrame:
    return bad.select(
        "file",
        F.col("record_index").cast("int"),
        F.col("p.pid").alias("pid"),
        "reason",
        "raw",
        PARTITION_COLUMN,
    )


def _duplicates_across_slices(
    spark: SparkSession, warehouse: Warehouse, good: DataFrame, keys: list[str]
) -> DataFrame:
    """The rule for a pid in more than one slice: the slice already in the warehouse keeps it;
    among the files of this run, the first by partition key keeps it. Every other record with
    that pid is quarantined ("duplicate pid (in slice <key>)"), so two playlists never merge."""
    valid = F.col("reason").isNull()
    earlier = Window.partitionBy("pid").orderBy(PARTITION_COLUMN, "record_index")
    owner = F.first(F.when(valid, F.col(PARTITION_COLUMN)), ignorenulls=True).over(earlier)
    good = good.withColumn("_owner", F.when(valid, owner))
    existing = (
        read_table(spark, warehouse.table(PLAYLISTS), PLAYLISTS_SCHEMA)
        .where(~F.col(PARTITION_COLUMN).isin(keys))
        .groupBy("pid")
        .agg(F.min(PARTITION_COLUMN).alias("_held_by"))
    )
    good = good.join(existing, "pid", "left")
    reason = (
        F.when(~valid, F.col("reason"))
        .when(
            F.col("_held_by").isNotNull(),
            F.concat(F.lit("duplicate pid (in slice "), F.col("_held_by"), F.lit(")")),
        )
        .when(
            F.col("_owner") != F.col(PARTITION_COLUMN),
            F.concat(F.lit("duplicate pid (in slice "), F.col("_owner"), F.lit(")")),
        )
    )
    return good.withColumn("reason", reason).drop("_owner", "_held_by")


def _raw_text_of_duplicates(
    spark: SparkSession, staging: Staging, good: DataFrame, files: dict[str, str]
) -> DataFrame:
    """Raw text for the records found duplicates of another slice's: only quarantined records
    kept theirs through parsing, so the files that have such records are read again."""
    late = good.where(F.col("reason").startswith("duplicate pid (in slice") & F.col("raw").isNull())
    keys = [r[0] for r in late.select(PARTITION_COLUMN).distinct().collect()]
    if not keys:
        return good
    raw = _parse(spark, [files[k] for k in keys]).select(
        "file", "record_index", F.col("raw").alias("_raw")
    )
    joined = good.join(raw, ["file", "record_index"], "left")
    joined = joined.withColumn(
        "raw", F.when(F.col("reason").isNotNull(), F.coalesce("raw", "_raw"))
    ).drop("_raw")
    return staging.stage("good_with_raw", joined)


def _json_error(spark: SparkSession, file: str) -> str:
    """Where a file stops being valid JSON, in the words of Python's parser."""
    text = spark.read.text(file, wholetext=True).first()
    if text is None or not text[0].strip():
        return EMPTY
    try:
        doc = json.loads(text[0])
    except json.JSONDecodeError as exc:
        return f"invalid JSON at line {exc.lineno} column {exc.colno} (char {exc.pos}): {exc.msg}"
    if not isinstance(doc, dict) or not isinstance(doc.get("playlists"), list):
        return 'not an MPD slice: no "playlists" list at the top level'
    return "unreadable by Spark's JSON reader"


def trailing_data(text: str | None) -> bool:
    """Whether a JSON text has something after its first document (which Spark's reader
    would ignore); False for text that is not JSON at all (reported as such elsewhere)."""
    if text is None:
        return False
    body = text.lstrip()
    try:
        _, end = json.JSONDecoder().raw_decode(body)
    except ValueError:
        return False
    return bool(body[end:].strip())


def _trailing_data(spark: SparkSession, files: list[str]) -> set[str]:
    """The files (as Spark names them) with data after their JSON document: each file's text
    is decoded once more, in the executors, to find where its document ends."""
    has_trailing = F.udf(lambda text: trailing_data(text), T.BooleanType())
    rows = (
        spark.read.text(files, wholetext=True)
        .select(F.input_file_name().alias("file"), has_trailing("value").alias("trailing"))
        .where("trailing")
        .collect()
    )
    return {r["file"] for r in rows}


def _without_raw_text_of_valid_records(parsed: DataFrame) -> DataFrame:
    """Raw text is kept only where a record is quarantined; parsed tracks replace the text."""
    return parsed.withColumn("p", F.col("p").dropFields("tracks")).withColumn(
        "raw", F.when(F.col("reason").isNotNull(), F.col("raw"))
    )


def _file_summary(parsed: DataFrame) -> list[Row]:
    """Per file (as Spark names it): whether it is corrupt."""
    corrupt = F.when(F.col("reason") == "corrupt file", 1).otherwise(0)
    return parsed.groupBy("file").agg(F.max(corrupt).alias("corrupt")).collect()


def _file_failures(
    spark: SparkSession,
    files: dict[str, str],
    summary: list[Row],
    key_of: dict[str, str],
    trailing: set[str],
) -> dict[str, FileError]:
    """The files that cannot be ingested, by key, with why: not valid JSON (and where it
    stops being valid), empty, or with data after the document."""
    failed: dict[str, FileError] = {}
    for row in summary:
        key = key_of[row["file"]]
        if row["corrupt"]:
            failed[key] = FileError(key, files[key], _json_error(spark, files[key]))
        elif row["file"] in trailing:
            failed[key] = FileError(key, files[key], TRAILING)
    for key, file in files.items():
        if key not in key_of.values():
            failed[key] = FileError(key, file, EMPTY)
    return failed


def _slice_stats(
    files: dict[str, str], good: DataFrame, failed: dict[str, FileError]
) -> dict[str, SliceStats]:
    """Playlists, tracks, quarantine reasons and playlist lengths of every slice written."""
    stats = {
        key: SliceStats(key=key, file=file) for key, file in files.items() if key not in failed
    }
    reasons = good.where(F.col("reason").isNotNull()).groupBy(PARTITION_COLUMN, "reason").count()
    for row in reasons.collect():
        s = stats[row[PARTITION_COLUMN]]
        generic = row["reason"].split(":")[0].split(" (")[0]
        s.reasons[generic] = s.reasons.get(generic, 0) + int(row["count"])
        s.quarantined += int(row["count"])
    lengths = good.where(F.col("reason").isNull()).select(PARTITION_COLUMN, F.size("t").alias("n"))
    for row in lengths.collect():
        s = stats[row[PARTITION_COLUMN]]
        s.lengths.append(int(row["n"]))
        s.playlists += 1
        s.tracks += int(row["n"])
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
    failed = {
        key: FileError(key, file, BAD_NAME)
        for key, file in by_key.items()
        if UNSAFE_KEY.search(key)
    }
    readable = {k: f for k, f in by_key.items() if k not in failed}
    with Staging(spark, warehouse) as staging:
        if readable:
            parsed = staging.stage(
                "parsed", _without_raw_text_of_valid_records(_parse(spark, list(readable.values())))
            )
            summary = _file_summary(parsed)
            # Spark names a file by its URI, percent-encoded: back to the key of the file given
            key_of = {r["file"]: slice_key(unquote(r["file"])) for r in summary}
            trailing = _trailing_data(spark, list(readable.values()))
            failed.update(_file_failures(spark, readable, summary, key_of, trailing))
            good = _with_key(parsed, key_of).where(~F.col(PARTITION_COLUMN).isin(list(failed)))
            written = [k for k in readable if k not in failed]
            good = staging.stage("good", _duplicates_across_slices(spark, warehouse, good, written))
            good = _raw_text_of_duplicates(spark, staging, good, readable)
            valid = good.where(F.col("reason").isNull())
            outputs = {
                PLAYLISTS: _playlists(valid),
                PLAYLIST_TRACKS: _playlist_tracks(valid),
                QUARANTINE: _quarantine(good.where(F.col("reason").isNotNull())),
            }
            for name, frame in outputs.items():
                frame.write.partitionBy(PARTITION_COLUMN).parquet(staging.path(name))
        for error in failed.values():
            log.error("%s: %s", error.file, error.message)
        stats = _slice_stats(readable, good, failed) if readable else {}
        _replace_partitions(FileSystem(spark), warehouse, staging, stats, log)
    return IngestResult(stats, failed)


def drop_partitions(spark: SparkSession, warehouse: Warehouse, keys: list[str]) -> None:
    """Remove the partitions of `keys` from every ingestion table."""
    fs = FileSystem(spark)
    for key in keys:
        for name in TABLES:
            fs.delete(warehouse.partition(name, key))
