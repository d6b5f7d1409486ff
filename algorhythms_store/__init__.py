"""The published database: the one contract between the pipeline and the service.

Both sides import this package and nothing of each other: how to reach the database
(`database`), the published tables (`schema`), publishing and rolling back a version
(`publish`), the formats the service reads back (`coldstart`, `text`), and the progress
lines that long steps on the pipeline's side log (`progress`). It imports neither Dagster,
Spark nor torch.
"""
