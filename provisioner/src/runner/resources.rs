//! The tenant's resources as [`Resource`]s: what "matches the plan" means for each.

use std::sync::Arc;

use tenancy::naming::Tags;
use tenancy::ports::{
    KeyInfo, KeySpec, KeyState, KeyVault, RoleInfo, RoleIssuer, RoleSpec, StreamTriggers,
    TableAdmin, TableInfo, TableStatus, TriggerInfo, TriggerSpec, TriggerState, adopt_unnamed_key,
    trigger_of,
};
use tenancy::retry::RetryPolicy;
use tenancy::table_plan::TableSpec;

use crate::runner::ensure::Resource;
use crate::runner::ownership::foreign_tags;

/// Whether the resource's ownership tags fail to name this tenant and deployment (the one
/// check cleanup makes too, `crate::runner::ownership`). Extra tags are tolerated: tags do not
/// change what a resource does, and an operator may add their own.
fn tags_differ(planned: &Tags, actual: &Tags) -> bool {
    foreign_tags(planned, actual).is_some()
}

/// The tenant's key, found by its alias — or, when an earlier attempt of the step may have
/// stopped between creating the key and naming it, by its tags.
pub(crate) struct KeyResource<'a> {
    pub vault: &'a Arc<dyn KeyVault>,
    pub spec: &'a KeySpec,
    /// An earlier attempt of the key step journaled its intent: a key it made may exist
    /// without its alias.
    pub resumed: bool,
}

impl Resource for KeyResource<'_> {
    type Info = KeyInfo;

    fn describe_name(&self) -> String {
        format!("key {}", self.spec.alias)
    }

    async fn lookup(&self) -> tenancy::Result<KeyInfo> {
        match self.vault.describe_key(&self.spec.alias).await {
            Err(e) if e.kind() == tenancy::ErrorKind::NotFound && self.resumed => {
                // Only the step knows that an earlier attempt ran, and only then is the
                // account-wide search worth paying for.
                match adopt_unnamed_key(self.vault.as_ref(), self.spec).await? {
                    Some(adopted) => Ok(adopted),
                    None => Err(e),
                }
            }
            other => other,
        }
    }

    async fn create(&self) -> tenancy::Result<KeyInfo> {
        self.vault.create_key(self.spec).await
    }

    fn differences(&self, actual: &KeyInfo) -> Vec<String> {
        let mut diffs = Vec::new();
        if actual.state != KeyState::Enabled {
            diffs.push("state".to_owned());
        }
        if actual.alias.as_deref() != Some(self.spec.alias.as_str()) {
            diffs.push("alias".to_owned());
        }
        if tags_differ(&self.spec.tags, &actual.tags) {
            diffs.push("tags".to_owned());
        }
        diffs
    }
}

/// One of the tenant's tables, found by name.
pub(crate) struct TableResource<'a> {
    pub admin: &'a Arc<dyn TableAdmin>,
    pub spec: TableSpec,
}

impl Resource for TableResource<'_> {
    type Info = TableInfo;

    fn describe_name(&self) -> String {
        format!("table {}", self.spec.name)
    }

    /// A table still being created or deleted is waited for (with the retry layer's policy:
    /// a state, not a failure, so the port does not retry it) instead of being adopted or
    /// recreated half-way; one that does not settle is `Unavailable`.
    async fn lookup(&self) -> tenancy::Result<TableInfo> {
        RetryPolicy::default()
            .run("wait for a table to settle", || async {
                let info = self.admin.describe_table(&self.spec.name).await?;
                match info.status {
                    TableStatus::Active => Ok(info),
                    TableStatus::Creating | TableStatus::Deleting => {
                        Err(tenancy::Error::unavailable(format!(
                            "table {} is {:?}, not yet usable",
                            self.spec.name, info.status
                        )))
                    }
                }
            })
            .await
    }

    async fn create(&self) -> tenancy::Result<TableInfo> {
        self.admin.create_table(&self.spec).await
    }

    fn differences(&self, actual: &TableInfo) -> Vec<String> {
        let mut diffs: Vec<String> = self
            .spec
            .differences(&actual.spec)
            .into_iter()
            .map(str::to_owned)
            .collect();
        if tags_differ(&self.spec.tags, &actual.spec.tags) {
            diffs.push("tags".to_owned());
        }
        diffs
    }
}

/// The tenant's role and its inline policy, found by name.
pub(crate) struct RoleResource<'a> {
    pub issuer: &'a Arc<dyn RoleIssuer>,
    pub spec: RoleSpec,
}

impl Resource for RoleResource<'_> {
    type Info = RoleInfo;

    fn describe_name(&self) -> String {
        format!("role {}", self.spec.name)
    }

    async fn lookup(&self) -> tenancy::Result<RoleInfo> {
        self.issuer.describe_role(&self.spec.name).await
    }

    async fn create(&self) -> tenancy::Result<RoleInfo> {
        self.issuer.create_role(&self.spec).await
    }

    fn differences(&self, actual: &RoleInfo) -> Vec<String> {
        let mut diffs = Vec::new();
        if actual.spec.name != self.spec.name {
            diffs.push("name".to_owned());
        }
        if actual.spec.trusted_principal != self.spec.trusted_principal {
            diffs.push("trust".to_owned());
        }
        if actual.spec.policy != self.spec.policy {
            diffs.push("policy".to_owned());
        }
        if tags_differ(&self.spec.tags, &actual.spec.tags) {
            diffs.push("tags".to_owned());
        }
        diffs
    }
}

/// The trigger from the events table's stream to the stream handler, found by both: a
/// mapping has no name of its own.
pub(crate) struct TriggerResource<'a> {
    pub triggers: &'a Arc<dyn StreamTriggers>,
    pub spec: TriggerSpec,
}

impl Resource for TriggerResource<'_> {
    type Info = TriggerInfo;

    fn describe_name(&self) -> String {
        format!(
            "trigger of stream {} to function {}",
            self.spec.stream_arn, self.spec.function
        )
    }

    /// A trigger still being deleted (Lambda deletes in the background) is waited for, as
    /// a table being deleted is, then made again.
    async fn lookup(&self) -> tenancy::Result<TriggerInfo> {
        RetryPolicy::default()
            .run("wait for a trigger being deleted", || async {
                let spec = &self.spec;
                match trigger_of(self.triggers.as_ref(), &spec.stream_arn, &spec.function).await? {
                    Some(t) if t.state == TriggerState::Deleting => {
                        Err(tenancy::Error::unavailable(format!(
                            "{} is being deleted",
                            self.describe_name()
                        )))
                    }
                    Some(t) => Ok(t),
                    None => Err(tenancy::Error::not_found(format!(
                        "no {}",
                        self.describe_name()
                    ))),
                }
            })
            .await
    }

    async fn create(&self) -> tenancy::Result<TriggerInfo> {
        self.triggers.create_trigger(&self.spec).await
    }

    fn differences(&self, actual: &TriggerInfo) -> Vec<String> {
        trigger_differences(&self.spec, actual)
    }
}

/// Why a plan with a stream handler cannot have its trigger: the events table has no stream.
pub(crate) fn no_stream(table: &str) -> tenancy::Error {
    tenancy::Error::invalid(format!(
        "table {table} has no stream for the stream handler to read"
    ))
}

/// Where a trigger differs from the plan (shared with drift): its state, its batching, its
/// ownership tags.
pub(crate) fn trigger_differences(planned: &TriggerSpec, actual: &TriggerInfo) -> Vec<String> {
    let mut diffs = Vec::new();
    if actual.state != TriggerState::Enabled {
        diffs.push("state".to_owned());
    }
    if actual.spec.batch_size != planned.batch_size
        || actual.spec.batching_window_secs != planned.batching_window_secs
    {
        diffs.push("batching".to_owned());
    }
    if tags_differ(&planned.tags, &actual.spec.tags) {
        diffs.push("tags".to_owned());
    }
    diffs
}
