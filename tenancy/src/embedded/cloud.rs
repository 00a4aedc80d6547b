//! `cloud.db`: the embedded cloud account — key vault keys, roles, and the catalog of tables
//! (which tenant file holds each table, its spec, ARN and the key that encrypts it).

/// Idempotent DDL of `cloud.db`.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS keys (
    key_id      TEXT PRIMARY KEY,
    arn         TEXT NOT NULL UNIQUE,
    alias       TEXT UNIQUE,
    wrapped     BLOB,
    state       TEXT NOT NULL CHECK (state IN ('enabled', 'pending_deletion', 'destroyed')),
    deletion_at INTEGER,
    description TEXT NOT NULL,
    tags        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS roles (
    name       TEXT PRIMARY KEY,
    arn        TEXT NOT NULL,
    spec       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tables (
    name         TEXT PRIMARY KEY,
    tenant_group TEXT NOT NULL,
    arn          TEXT NOT NULL,
    key_id       TEXT REFERENCES keys (key_id),
    spec         TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tables_by_group ON tables (tenant_group);
CREATE TABLE IF NOT EXISTS triggers (
    id           TEXT PRIMARY KEY,
    stream_arn   TEXT NOT NULL,
    function_arn TEXT NOT NULL,
    spec         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    UNIQUE (stream_arn, function_arn)
);
";

pub(crate) const FILE_NAME: &str = "cloud.db";
