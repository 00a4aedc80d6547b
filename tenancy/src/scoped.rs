//! [`ScopedItemStore`]: an item store acting as one role, refusing every table the role's
//! policy does not name before the store behind it is touched. Every `RoleIssuer` adapter
//! hands these out from `scoped_store`, so the enforcement is one piece of code.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::ports::item_store::{Condition, Item, ItemKey, ItemStore, Page, Query, WriteOp};
use crate::ports::role_issuer::RoleInfo;

/// An item store acting as one role: every table its policy does not name is refused with
/// `AccessDenied` before `inner` is touched (a transaction is refused whole). The policy is
/// the one the role had when the handle was made, as credentials from `AssumeRole` keep the
/// permissions they were issued with until they expire.
pub(crate) struct ScopedItemStore {
    role: String,
    allowed: BTreeSet<String>,
    inner: Arc<dyn ItemStore>,
}

impl ScopedItemStore {
    /// A handle acting as `role` over `inner`.
    pub(crate) fn new(role: &RoleInfo, inner: Arc<dyn ItemStore>) -> Self {
        ScopedItemStore {
            role: role.spec.name.clone(),
            allowed: role.spec.policy.allowed_tables().into_iter().collect(),
            inner,
        }
    }

    fn check(&self, table: &str) -> Result<()> {
        if self.allowed.contains(table) {
            Ok(())
        } else {
            Err(Error::access_denied(format!(
                "role {} is not allowed to access table {table}",
                self.role
            )))
        }
    }
}

#[async_trait]
impl ItemStore for ScopedItemStore {
    async fn put(&self, table: &str, item: &Item, condition: Condition) -> Result<()> {
        self.check(table)?;
        self.inner.put(table, item, condition).await
    }

    async fn get(&self, table: &str, key: &ItemKey) -> Result<Option<Item>> {
        self.check(table)?;
        self.inner.get(table, key).await
    }

    async fn delete(&self, table: &str, key: &ItemKey, condition: Condition) -> Result<()> {
        self.check(table)?;
        self.inner.delete(table, key, condition).await
    }

    async fn query(&self, table: &str, query: &Query) -> Result<Page> {
        self.check(table)?;
        self.inner.query(table, query).await
    }

    async fn transact_write(&self, ops: &[WriteOp]) -> Result<()> {
        for op in ops {
            self.check(op.table())?;
        }
        self.inner.transact_write(ops).await
    }

    async fn batch_get(&self, table: &str, keys: &[ItemKey]) -> Result<Vec<Item>> {
        self.check(table)?;
        self.inner.batch_get(table, keys).await
    }

    async fn batch_write(&self, table: &str, puts: &[Item], deletes: &[ItemKey]) -> Result<()> {
        self.check(table)?;
        self.inner.batch_write(table, puts, deletes).await
    }
}
