//! The probe: proof that the tenant's own resources work together before it is `Active`.
//!
//! Acting as the tenant's role (its scoped store), it writes, reads back and deletes an item
//! in each table — which exercises the tables, the key encrypting them and the role's policy —
//! and checks that the same store is refused a table outside the policy.

use std::sync::Arc;

use serde_json::Value;
use tenancy::ErrorKind;
use tenancy::ports::{Condition, Item, ItemKey, ItemStore, RoleIssuer};
use tenancy::table_plan::keys;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::plan::TenantPlan;

/// Runs the probe; returns what it checked. Errors: [`Error::ProbeFailed`] when a read does not
/// return what was written or the scoped store reaches outside its policy; port errors as is.
pub(crate) async fn probe(
    roles: &Arc<dyn RoleIssuer>,
    plan: &TenantPlan,
    run_id: Uuid,
    outside_table: &str,
) -> Result<String> {
    let store = roles.scoped_store(&plan.role_name).await?;
    let key = ItemKey::new(keys::PROBE, run_id.to_string());
    let mut item = Item::new(key.clone());
    // Should the delete below never happen, the item expires on its own.
    item.ttl = Some(OffsetDateTime::now_utc().unix_timestamp() + 3600);
    item.attrs
        .insert("run_id".to_owned(), Value::String(run_id.to_string()));

    for table in plan.names.tables() {
        round_trip(&store, plan, table, &item).await?;
    }

    match store.get(outside_table, &key).await {
        Err(e) if e.kind() == ErrorKind::AccessDenied => {}
        other => {
            return Err(Error::ProbeFailed {
                tenant: plan.tenant.to_string(),
                reason: format!(
                    "the scoped store was not refused table {outside_table} outside its policy (got {other:?})"
                ),
            });
        }
    }
    Ok(format!(
        "wrote, read back and deleted a probe item in {} as role {}; {outside_table} refused",
        plan.names.tables().join(" and "),
        plan.role_name
    ))
}

async fn round_trip(
    store: &Arc<dyn ItemStore>,
    plan: &TenantPlan,
    table: &str,
    item: &Item,
) -> Result<()> {
    store.put(table, item, Condition::None).await?;
    let read = store.get(table, &item.key).await?;
    store.delete(table, &item.key, Condition::None).await?;
    match read {
        Some(read) if read.key == item.key && read.attrs == item.attrs => Ok(()),
        other => Err(Error::ProbeFailed {
            tenant: plan.tenant.to_string(),
            reason: format!("table {table} returned {other:?} for the probe item just written"),
        }),
    }
}
