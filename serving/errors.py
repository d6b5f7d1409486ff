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
