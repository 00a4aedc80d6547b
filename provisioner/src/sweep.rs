//! Sweep: resources tagged as this deployment's (`spotlight:managed-by` = the prefix) that no
//! registry record claims, and, when asked, their removal.
//!
//! A record claims a resource when the tenant its `spotlight:tenant` tag names has a record
//! that is not `deleted`, and the resource is that tenant's planned table or role, or its key
//! (the key id the record holds, the planned alias, or any key while a run is under way —
//! the run may be about to adopt it). Everything else tagged as ours is an orphan: a
//! resource of a tenant with no record, a second key an interrupted creation left next to the
//! tenant's, a table left after the tenant was deleted.
//!
//! Removal follows the ownership rule: right before each delete the resource is read again
//! from the backend and its own tags must still name this deployment and the same tenant, and
//! the tenant's record is read again and must still not claim it. Keys are only scheduled for
//! deletion, with the deployment's window (never destroyed at once).

use serde::Serialize;
use tenancy::naming::{TAG_MANAGED_BY, TAG_TENANT, Tags};
use tenancy::ports::KeyState;
use tenancy::{ErrorKind, TenantId, TenantRecord, TenantStatus};

use crate::error::Result;
use crate::runner::Provisioner;

/// What kind of resource an orphan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrphanKind {
    Table,
    Role,
    Key,
}

/// A resource tagged as this deployment's that no record claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Orphan {
    pub kind: OrphanKind,
    /// Table or role name, or key id.
    pub id: String,
    /// The tenant its `spotlight:tenant` tag names.
    pub tenant: Option<String>,
    /// Why no record claims it.
    pub reason: String,
    /// With `--delete`: what was done (`deleted`, `scheduled for deletion …`, or why it was
    /// kept after all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// What one sweep found (and, with `--delete`, did).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub orphans: Vec<Orphan>,
}

/// Whether the record of the tenant a resource is tagged for claims it.
enum Claim {
    Claimed,
    Unclaimed(String),
}

impl Provisioner {
    /// Lists the deployment's orphans; with `delete`, removes each one that is still an
    /// orphan when read again right before its removal.
    pub async fn sweep(&self, delete: bool) -> Result<SweepReport> {
        let mut orphans = self.find_orphans().await?;
        if delete {
            for orphan in &mut orphans {
                orphan.outcome = Some(self.remove(orphan).await?);
            }
        }
        Ok(SweepReport { orphans })
    }

    async fn find_orphans(&self) -> Result<Vec<Orphan>> {
        let backend = self.backend();
        let start = self.settings().table_prefix.name_start();
        let mut orphans = Vec::new();
        for name in backend.tables.list_tables(&start).await? {
            if name == self.settings().table_prefix.registry_table() {
                continue;
            }
            let table = match backend.tables.describe_table(&name).await {
                Ok(t) => t,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            self.consider(
                OrphanKind::Table,
                name,
                &table.spec.tags,
                None,
                &mut orphans,
            )
            .await?;
        }
        for role in backend.roles.list_roles(&start).await? {
            self.consider(OrphanKind::Role, role.name, &role.tags, None, &mut orphans)
                .await?;
        }
        let ours = Tags::from([(TAG_MANAGED_BY.to_owned(), self.deployment().to_owned())]);
        for key in backend.keys.list_keys(&ours).await? {
            // A key already scheduled for deletion is on its way out.
            if key.state != KeyState::Enabled {
                continue;
            }
            let alias = key.alias.clone();
            self.consider(OrphanKind::Key, key.key_id, &key.tags, alias, &mut orphans)
                .await?;
        }
        Ok(orphans)
    }

    fn deployment(&self) -> &str {
        self.settings().table_prefix.as_str()
    }

    /// Adds the resource to `orphans` when it is tagged as this deployment's and unclaimed.
    async fn consider(
        &self,
        kind: OrphanKind,
        id: String,
        tags: &Tags,
        alias: Option<String>,
        orphans: &mut Vec<Orphan>,
    ) -> Result<()> {
        if tags.get(TAG_MANAGED_BY).map(String::as_str) != Some(self.deployment()) {
            return Ok(());
        }
        let tenant = tags.get(TAG_TENANT).cloned();
        if let Claim::Unclaimed(reason) = self
            .claim(kind, &id, tenant.as_deref(), alias.as_deref())
            .await?
        {
            orphans.push(Orphan {
                kind,
                id,
                tenant,
                reason,
                outcome: None,
            });
        }
        Ok(())
    }

    async fn claim(
        &self,
        kind: OrphanKind,
        id: &str,
        tenant: Option<&str>,
        alias: Option<&str>,
    ) -> Result<Claim> {
        // A table or role named for a live tenant is that tenant's whatever its tags say: a
        // copied or mistaken tag must never make a sweep delete a live tenant's table (drift
        // reports its tags instead).
        if let Some(named) = named_tenant(&self.settings().table_prefix, kind, id)
            && Some(named.as_str()) != tenant
        {
            match self.record(&named).await {
                Ok(record) if record.status != TenantStatus::Deleted => return Ok(Claim::Claimed),
                Ok(_) => {}
                Err(crate::Error::Port(e)) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let Some(tenant) = tenant else {
            return Ok(Claim::Unclaimed(format!("it has no {TAG_TENANT} tag")));
        };
        let Ok(tenant) = TenantId::parse(tenant) else {
            return Ok(Claim::Unclaimed(format!(
                "its {TAG_TENANT} tag {tenant:?} names no valid tenant"
            )));
        };
        let record = match self.record(&tenant).await {
            Ok(r) => r,
            Err(crate::Error::Port(e)) if e.kind() == ErrorKind::NotFound => {
                return Ok(Claim::Unclaimed(format!("tenant {tenant} has no record")));
            }
            Err(e) => return Err(e),
        };
        Ok(claimed_by(&self.plan(&tenant), &record, kind, id, alias))
    }

    /// Removes one orphan after checking, on the resource and the record again, that it still
    /// is one. Returns what was done.
    async fn remove(&self, orphan: &Orphan) -> Result<String> {
        let backend = self.backend();
        let (tags, alias) = match orphan.kind {
            OrphanKind::Table => match backend.tables.describe_table(&orphan.id).await {
                Ok(t) => (t.spec.tags, None),
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok("gone already".to_owned()),
                Err(e) => return Err(e.into()),
            },
            OrphanKind::Role => {
                let listed = backend.roles.list_roles(&orphan.id).await?;
                match listed.into_iter().find(|r| r.name == orphan.id) {
                    Some(r) => (r.tags, None),
                    None => return Ok("gone already".to_owned()),
                }
            }
            OrphanKind::Key => match backend.keys.describe_key(&orphan.id).await {
                Ok(k) if k.state != KeyState::Enabled => {
                    return Ok("scheduled for deletion already".to_owned());
                }
                Ok(k) => (k.tags, k.alias),
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok("gone already".to_owned()),
                Err(e) => return Err(e.into()),
            },
        };
        if tags.get(TAG_MANAGED_BY).map(String::as_str) != Some(self.deployment())
            || tags.get(TAG_TENANT) != orphan.tenant.as_ref()
        {
            return Ok(format!(
                "kept: its tags changed since it was listed and no longer name this \
                 deployment and tenant {:?}",
                orphan.tenant
            ));
        }
        if let Claim::Claimed = self
            .claim(
                orphan.kind,
                &orphan.id,
                orphan.tenant.as_deref(),
                alias.as_deref(),
            )
            .await?
        {
            return Ok("kept: a tenant's record claims it now".to_owned());
        }
        Ok(match orphan.kind {
            OrphanKind::Table => {
                backend.tables.delete_table(&orphan.id).await?;
                "deleted".to_owned()
            }
            OrphanKind::Role => {
                backend.roles.delete_role(&orphan.id).await?;
                "deleted".to_owned()
            }
            OrphanKind::Key => {
                let window = self.settings().key_deletion_window_days.get() as u32;
                let key = backend
                    .keys
                    .schedule_key_deletion(&orphan.id, window)
                    .await?;
                match key.state {
                    KeyState::PendingDeletion { deletion_at } => {
                        format!("scheduled for deletion at {deletion_at}")
                    }
                    other => format!("scheduled for deletion; now {other:?}"),
                }
            }
        })
    }
}

/// Whether `record` claims the resource (see the module docs).
fn claimed_by(
    plan: &crate::plan::TenantPlan,
    record: &TenantRecord,
    kind: OrphanKind,
    id: &str,
    alias: Option<&str>,
) -> Claim {
    let tenant = &record.id;
    if record.status == TenantStatus::Deleted {
        return Claim::Unclaimed(format!("tenant {tenant} is deleted"));
    }
    let in_flight = matches!(
        record.status,
        TenantStatus::Requested | TenantStatus::Provisioning | TenantStatus::Deprovisioning
    );
    let claimed = match kind {
        OrphanKind::Table => plan.names.tables().contains(&id),
        OrphanKind::Role => plan.role_name == id,
        OrphanKind::Key => {
            in_flight
                || record.arns.key_id.as_deref() == Some(id)
                || alias == Some(plan.names.key_alias.as_str())
        }
    };
    if claimed {
        Claim::Claimed
    } else {
        Claim::Unclaimed(match kind {
            OrphanKind::Key => format!(
                "tenant {tenant} ({}) holds key {:?}, not this one",
                record.status, record.arns.key_id
            ),
            _ => format!("{id} is not a planned name of tenant {tenant}"),
        })
    }
}

/// The tenant whose planned name `id` is, if it is one: `{prefix}_tenant-{id}` for a role,
/// with `-app` or `-events` for a table. Keys have no name of their own.
fn named_tenant(prefix: &tenancy::TablePrefix, kind: OrphanKind, id: &str) -> Option<TenantId> {
    let rest = id.strip_prefix(&format!("{}tenant-", prefix.name_start()))?;
    let candidate = match kind {
        OrphanKind::Role => rest,
        OrphanKind::Table => rest
            .strip_suffix("-app")
            .or_else(|| rest.strip_suffix("-events"))?,
        OrphanKind::Key => return None,
    };
    let tenant = TenantId::parse(candidate).ok()?;
    let names = tenancy::ResourceNames::for_tenant(prefix, &tenant);
    let planned = match kind {
        OrphanKind::Role => names.role_name == id,
        _ => names.tables().contains(&id),
    };
    planned.then_some(tenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planned_table_or_role_name_names_its_tenant() {
        let prefix = tenancy::TablePrefix::parse("spotlight").unwrap();
        let named = |kind, id| named_tenant(&prefix, kind, id).map(|t| t.to_string());
        assert_eq!(
            named(OrphanKind::Table, "spotlight_tenant-globex-app").as_deref(),
            Some("globex")
        );
        assert_eq!(
            named(OrphanKind::Table, "spotlight_tenant-big-co-events").as_deref(),
            Some("big-co")
        );
        assert_eq!(
            named(OrphanKind::Role, "spotlight_tenant-globex").as_deref(),
            Some("globex")
        );
        for (kind, id) in [
            (OrphanKind::Table, "spotlight_tenant-globex-other"),
            (OrphanKind::Table, "other_tenant-globex-app"),
            (OrphanKind::Role, "spotlight_tenants-metadata"),
            (OrphanKind::Key, "spotlight_tenant-globex"),
        ] {
            assert_eq!(named(kind, id), None, "{id}");
        }
    }
}
