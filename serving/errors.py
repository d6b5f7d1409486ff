"""Why a request cannot be answered (besides an unreachable database: psycopg's errors)."""


class NotPublished(Exception):
    """The database has no published version yet."""


class VersionChanged(Exception):
    """A new version went live between two statements of one request."""


class NoUsableSongs(Exception):
    """None of a request's songs is in the catalogue or has features the cold-start model
    can use."""

    def __init__(self, skipped: list[str]):
        super().__init__(skipped)
        self.skipped = skipped


def missing_table(error: Exception, table: str) -> bool:
    """Whether `error` (an UndefinedTable) is about `table`: a version published before the
    table existed, rather than nothing published at all."""
    diag = getattr(error, "diag", None)
    return f'"{table}"' in ((diag.message_primary if diag else None) or str(error))
