"""Checks of the live published version: they block the run if the service would read a
table with missing or duplicate tracks, or search vectors without the index."""

import dagster as dg
import psycopg

from algorhythms_assets.assets.published import published_version
from algorhythms_assets.resources import DatabaseResource, WarehouseResource
from algorhythms_ml.published_tables import published_tracks
from algorhythms_store.schema import TRACK_MODEL, TRACK_VECTORS


def _live(database: DatabaseResource) -> psycopg.Connection:
    return psycopg.connect(database.resolve_url(), autocommit=True)


@dg.asset_check(asset=published_version, blocking=True)
def check_published_version_one_row_per_track(
    warehouse: WarehouseResource, database: DatabaseResource
) -> dg.AssetCheckResult:
    """The live track_vectors table has exactly the warehouse's tracks, each once."""
    expected = len(published_tracks(warehouse.warehouse()))
    with _live(database) as conn:
        rows, distinct = conn.execute(
            f"SELECT count(*), count(DISTINCT uri) FROM {TRACK_VECTORS}"
        ).fetchone()
    return dg.AssetCheckResult(
        passed=rows == expected == distinct,
        metadata={"actual": rows, "distinct_uris": distinct, "threshold": expected},
    )


@dg.asset_check(asset=published_version, blocking=True)
def check_published_version_nearest_neighbour_uses_index(
    database: DatabaseResource,
) -> dg.AssetCheckResult:
    """The service's nearest-neighbour query is answered by the HNSW index, not a scan."""
    with _live(database) as conn:
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                f"EXPLAIN WITH published AS (SELECT version FROM {TRACK_MODEL}) "
                f"SELECT uri FROM {TRACK_VECTORS} ORDER BY embedding <=> "
                f"(SELECT embedding FROM {TRACK_VECTORS} LIMIT 1) LIMIT 10"
            )
        )
    used = "_embedding" in plan
    return dg.AssetCheckResult(
        passed=used,
        metadata={
            "actual": used,
            "threshold": True,
            "plan": dg.MetadataValue.md(f"```\n{plan}\n```"),
        },
    )
