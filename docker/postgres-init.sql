-- First start of the compose PostgreSQL: pgvector in the published database, and a database
-- for Dagster's own storage.
CREATE EXTENSION IF NOT EXISTS vector;
CREATE DATABASE dagster;
