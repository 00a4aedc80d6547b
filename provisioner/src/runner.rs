//! Provisioning runs: ensure steps with a journal, rollback, probe, offboarding cleanup.

use serde::Serialize;
use tenancy::{Backend, JournalEntry, Origin, OwnerEmail, TenantId, TenantName, TenantRecord, Tier, Transition};

use crate::config::Settings;
use crate::error::Result;
use crate::plan::TenantPlan;

/// The ordered provisioning steps. Cleanup runs them in reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Key,
    AppTable,
    EventsTable,
    Role,
    Probe,
}

impl Step {
    pub const ALL: [Step; 5] = [Step::Key, Step::AppTable, Step::EventsTable, Step::Role, Step::Probe];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Key => "key",
            Step::AppTable => "app_table",
            Step::EventsTable => "events_table",
            Step::Role => "role",
            Step::Probe => "probe",
        }
    }
}

/// What `POST /tenants` (or `provisioner apply`) asks for.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub id: TenantId,
    pub name: TenantName,
    pub owner_email: OwnerEmail,
    pub tier: Tier,
    pub allowed_origins: Vec<Origin>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub record: TenantRecord,
    pub journal: Vec<JournalEntry>,
}

#[derive(Clone)]
pub struct Provisioner {
    backend: Backend,
    settings: Settings,
}

impl Provisioner {
    pub fn new(backend: Backend, settings: Settings) -> Self {
        Provisioner { backend, settings }
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn plan(&self, id: &TenantId) -> TenantPlan {
        TenantPlan::new(&self.settings.table_prefix, id, &self.settings.data_plane_principal)
    }

    pub async fn request(&self, new: NewTenant) -> Result<TenantRecord> {
        let _ = new;
        todo!("store a Requested tenant with its first journal entry")
    }

    pub async fn provision(&self, id: &TenantId) -> Result<TenantRecord> {
        let _ = id;
        todo!("drive to Active or Failed")
    }

    pub async fn retry(&self, id: &TenantId) -> Result<TenantRecord> {
        let _ = id;
        todo!()
    }

    pub async fn offboard(&self, id: &TenantId) -> Result<TenantRecord> {
        let _ = id;
        todo!()
    }

    pub async fn transition(&self, id: &TenantId, transition: Transition, detail: &str) -> Result<TenantRecord> {
        let _ = (id, transition, detail);
        todo!()
    }

    pub async fn status(&self, id: &TenantId, journal_limit: u32) -> Result<StatusReport> {
        let _ = (id, journal_limit);
        todo!()
    }

    pub async fn in_flight(&self) -> Result<Vec<TenantRecord>> {
        todo!()
    }
}
