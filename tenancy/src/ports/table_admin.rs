//! `TableAdmin`: create, describe, delete tables (with SSE key, PITR, TTL and tags).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::table_plan::TableSpec;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableStatus {
    Creating,
    Active,
    Deleting,
}

/// A table as the backend reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableInfo {
    pub spec: TableSpec,
    pub arn: String,
    pub status: TableStatus,
    /// The ARN of the table's current change stream, when it has one
    /// (`{arn}/stream/{label}`; a table made again gets a new label).
    #[serde(default)]
    pub stream_arn: Option<String>,
}

#[async_trait]
pub trait TableAdmin: Send + Sync {
    /// Creates the table and waits until it is `Active`.
    /// Errors: `AlreadyExists` when a table of that name exists (whatever its spec);
    /// `Invalid` for a spec the backend cannot create.
    async fn create_table(&self, spec: &TableSpec) -> Result<TableInfo>;

    /// Errors: `NotFound`.
    async fn describe_table(&self, name: &str) -> Result<TableInfo>;

    /// Deletes the table and its items and waits until it is gone. Errors: `NotFound`.
    async fn delete_table(&self, name: &str) -> Result<()>;

    /// Names of existing tables starting with `prefix`, sorted.
    async fn list_tables(&self, prefix: &str) -> Result<Vec<String>>;
}
