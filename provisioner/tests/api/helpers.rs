//! `TestEnv`: a data directory, settings pointing at it, the embedded backend and a
//! provisioner; plus assertions about a tenant's resources made through the ports.

use std::path::PathBuf;
use std::process::{Command, Output};

use provisioner::config::Bounded;
use provisioner::{NewTenant, Provisioner, Settings};
use tempfile::TempDir;
use tenancy::ports::KeyState;
use tenancy::table_plan::TableRole;
use tenancy::{
    Backend, ErrorKind, JournalEntry, JournalPhase, OwnerEmail, TablePrefix, TenantId, TenantName,
    TenantRecord, TenantStatus, Tier, Transition,
};

/// Prefix of every test deployment; unusual so that a leak would be easy to spot.
pub const PREFIX: &str = "pt";

pub struct TestEnv {
    pub provisioner: Provisioner,
    pub backend: Backend,
    pub settings: Settings,
    dir: TempDir,
    #[cfg(feature = "failpoints")]
    _serial: fail::FailScenario<'static>,
}

impl TestEnv {
    /// Plants a table under the tenant's planned name that differs from the plan (`alter`
    /// says how), then requests and provisions the tenant: the run meets drift at that
    /// table's step and ends with the record it returns (`Failed`, asserted by callers).
    pub async fn provision_over_drift(
        &self,
        id: &TenantId,
        role: TableRole,
        alter: impl FnOnce(&mut tenancy::table_plan::TableSpec),
    ) -> TenantRecord {
        let mut odd = self.provisioner.plan(id).table_spec(role, "unused");
        odd.sse_key = None;
        alter(&mut odd);
        self.backend.tables.create_table(&odd).await.unwrap();
        self.provisioner
            .request(TestEnv::new_tenant(id))
            .await
            .unwrap();
        self.provisioner.provision(id).await.unwrap()
    }

    pub async fn new() -> TestEnv {
        #[cfg(feature = "failpoints")]
        let serial = fail::FailScenario::setup();
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = Settings {
            data_dir: dir.path().join("data"),
            table_prefix: TablePrefix::parse(PREFIX).unwrap(),
            key_deletion_window_days: Bounded::must(7),
            ..Settings::default()
        };
        let backend = tenancy::open(&settings)
            .await
            .expect("embedded backend opens");
        TestEnv {
            provisioner: Provisioner::new(backend.clone(), settings.clone()),
            backend,
            settings,
            dir,
            #[cfg(feature = "failpoints")]
            _serial: serial,
        }
    }

    pub fn new_tenant(id: &TenantId) -> NewTenant {
        NewTenant {
            id: id.clone(),
            name: TenantName::parse(&format!("Tenant {id}")).unwrap(),
            owner_email: OwnerEmail::parse("owner@example.com").unwrap(),
            tier: Tier::Standard,
            allowed_origins: Vec::new(),
            request: None,
        }
    }

    /// What a run that died right after `BeginProvisioning` leaves behind: the tenant
    /// `Provisioning` under the run its request opened, nothing else. Written through the
    /// registry port, since the provisioner offers no way to make that transition alone.
    pub async fn leave_provisioning(&self, id: &TenantId) -> TenantRecord {
        let registry = &self.backend.registry;
        let mut record = registry.get_tenant(id).await.unwrap();
        record
            .transition(
                Transition::BeginProvisioning,
                None,
                time::OffsetDateTime::now_utc(),
            )
            .unwrap();
        assert!(record.run_id.is_some(), "the request opened a run");
        registry.update_tenant(&record, &[]).await.unwrap()
    }

    /// Requests and provisions `id`, asserting it became active.
    pub async fn onboard(&self, id: &TenantId) -> TenantRecord {
        self.provisioner
            .request(Self::new_tenant(id))
            .await
            .expect("request");
        let record = self.provisioner.provision(id).await.expect("provision");
        assert_eq!(record.status, TenantStatus::Active, "{record:#?}");
        record
    }

    pub async fn record(&self, id: &TenantId) -> TenantRecord {
        self.backend
            .registry
            .get_tenant(id)
            .await
            .expect("tenant record")
    }

    pub async fn journal(&self, id: &TenantId) -> Vec<JournalEntry> {
        self.backend
            .registry
            .journal(id, None, 10_000)
            .await
            .expect("journal")
    }

    /// The built CLI as a child process on this environment's data directory.
    pub fn cli(&self, args: &[&str], failpoints: Option<&str>) -> Output {
        self.cli_with(args, failpoints, &[])
    }

    /// [`TestEnv::cli`] as the deployment with `prefix`.
    pub fn cli_as(&self, prefix: &str, args: &[&str], failpoints: Option<&str>) -> Output {
        self.cli_with(args, failpoints, &[("SPOTLIGHT_TABLE_PREFIX", prefix)])
    }

    /// [`TestEnv::cli`] with further `SPOTLIGHT_*` variables set (or overridden).
    pub fn cli_with(
        &self,
        args: &[&str],
        failpoints: Option<&str>,
        vars: &[(&str, &str)],
    ) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_provisioner"));
        command
            .args(args)
            .env("SPOTLIGHT_DATA_DIR", &self.settings.data_dir)
            .env("SPOTLIGHT_TABLE_PREFIX", PREFIX)
            .env(
                "SPOTLIGHT_KEY_DELETION_WINDOW_DAYS",
                self.settings.key_deletion_window_days.to_string(),
            )
            .env("SPOTLIGHT_CONFIG", self.no_config_file())
            .env_remove("SPOTLIGHT_BACKEND")
            .env_remove("RUST_LOG");
        match failpoints {
            Some(f) => command.env("FAILPOINTS", f),
            None => command.env_remove("FAILPOINTS"),
        };
        command.envs(vars.iter().copied());
        command.output().expect("run the provisioner binary")
    }

    fn no_config_file(&self) -> PathBuf {
        self.dir.path().join("absent.toml")
    }

    /// Exactly one key (by alias, enabled, the one in the record), the two planned tables
    /// encrypted with it and nothing else under the tenant's name, and the role allowing
    /// exactly those tables.
    pub async fn assert_fully_provisioned(&self, id: &TenantId) {
        let record = self.record(id).await;
        assert_eq!(record.status, TenantStatus::Active, "{record:#?}");
        assert_eq!(record.run_id, None, "an active tenant has no run in charge");
        let plan = self.provisioner.plan(id);

        let key = self
            .backend
            .keys
            .describe_key(&plan.names.key_alias)
            .await
            .expect("key by alias");
        assert_eq!(key.state, KeyState::Enabled);
        assert_eq!(record.arns.key_arn.as_deref(), Some(key.arn.as_str()));
        assert_eq!(record.arns.key_id.as_deref(), Some(key.key_id.as_str()));
        let enabled: Vec<String> = self
            .backend
            .keys
            .list_keys(&plan.tags)
            .await
            .expect("keys by tag")
            .into_iter()
            .filter(|k| k.state == KeyState::Enabled)
            .map(|k| k.key_id)
            .collect();
        assert_eq!(
            enabled,
            std::slice::from_ref(&key.key_id),
            "exactly one enabled key is tagged for {id}"
        );

        let tables = self.own_tables(id).await;
        assert_eq!(
            tables,
            vec![
                plan.names.app_table.clone(),
                plan.names.events_table.clone()
            ]
        );
        for (role, arn) in [
            (TableRole::App, &record.arns.app_table_arn),
            (TableRole::Events, &record.arns.events_table_arn),
        ] {
            let expected = plan.table_spec(role, &key.arn);
            let info = self
                .backend
                .tables
                .describe_table(&expected.name)
                .await
                .expect("table");
            assert!(
                expected.differences(&info.spec).is_empty(),
                "{:?}",
                expected.differences(&info.spec)
            );
            assert_eq!(arn.as_deref(), Some(info.arn.as_str()));
        }

        let role = self
            .backend
            .roles
            .describe_role(&plan.role_name)
            .await
            .expect("role");
        assert_eq!(
            role.spec.policy.allowed_tables(),
            vec![
                plan.names.app_table.clone(),
                plan.names.events_table.clone()
            ]
        );
        assert_eq!(record.arns.role_arn.as_deref(), Some(role.arn.as_str()));

        // No orphan keys: every key any run of this tenant created or adopted (the journal
        // names each with its ARN) is either this key or one a rollback scheduled for deletion.
        let journaled = self.journaled_key_arns(id).await;
        assert!(
            journaled.contains(&key.arn),
            "the journal never recorded the live key"
        );
        for arn in journaled.iter().filter(|arn| **arn != key.arn) {
            let other = self
                .backend
                .keys
                .describe_key(arn)
                .await
                .expect("journaled key");
            assert_ne!(
                other.state,
                KeyState::Enabled,
                "orphan key {arn} is still enabled"
            );
        }
    }

    /// ARNs of every key a `key` step of this tenant recorded as created or adopted.
    pub async fn journaled_key_arns(&self, id: &TenantId) -> Vec<String> {
        let mut arns: Vec<String> = self
            .journal(id)
            .await
            .into_iter()
            .filter(|e| e.step == "key" && e.phase == JournalPhase::Done)
            .filter_map(|e| {
                let (_, rest) = e.detail.split_once('(')?;
                Some(rest.trim_end_matches(')').to_owned())
            })
            .collect();
        arns.sort();
        arns.dedup();
        arns
    }

    /// Tables named after tenant `id` exactly. A listing by the prefix
    /// `{PREFIX}_tenant-{id}-` alone would also return the tables of a tenant `{id}-x`; table
    /// suffixes have no hyphen and tenant ids do not end in one, so a remainder without a
    /// hyphen is this tenant's own.
    pub async fn own_tables(&self, id: &TenantId) -> Vec<String> {
        let prefix = format!("{PREFIX}_tenant-{id}-");
        self.backend
            .tables
            .list_tables(&prefix)
            .await
            .unwrap()
            .into_iter()
            .filter(|name| {
                name.strip_prefix(&prefix)
                    .is_some_and(|rest| !rest.contains('-'))
            })
            .collect()
    }

    /// Every key any run of the tenant created is disabled (scheduled for deletion); no table
    /// or role that is the tenant's own (its tags, its plan) remains. Resources under the
    /// tenant's names that are not its own may remain.
    pub async fn assert_none_of_its_own_resources(&self, id: &TenantId) {
        let plan = self.provisioner.plan(id);
        for arn in self.journaled_key_arns(id).await {
            let key = self.backend.keys.describe_key(&arn).await.unwrap();
            assert_ne!(
                key.state,
                KeyState::Enabled,
                "key {arn} of the tenant is live"
            );
        }
        let keys = self.journaled_key_arns(id).await;
        for (role, name) in [
            (TableRole::App, &plan.names.app_table),
            (TableRole::Events, &plan.names.events_table),
        ] {
            let Ok(info) = self.backend.tables.describe_table(name).await else {
                continue;
            };
            let sse = info.spec.sse_key.clone().unwrap_or_default();
            let ours = plan
                .table_spec(role, &sse)
                .differences(&info.spec)
                .is_empty()
                && info.spec.tags == plan.tags
                && keys.contains(&sse);
            assert!(!ours, "table {name} of the tenant is left");
        }
        if let Ok(role) = self.backend.roles.describe_role(&plan.role_name).await {
            let ours = role.spec.tags == plan.tags
                && role.spec.trusted_principal == plan.trusted_principal
                && role.spec.policy.allowed_tables() == plan.names.tables();
            assert!(!ours, "the tenant's role is left");
        }
    }

    /// No key under the alias, no tables under the tenant's name, no role.
    pub async fn assert_no_resources(&self, id: &TenantId) {
        let plan = self.provisioner.plan(id);
        let key = self.backend.keys.describe_key(&plan.names.key_alias).await;
        assert_eq!(
            key.map_err(|e| e.kind()).err(),
            Some(ErrorKind::NotFound),
            "the alias still names a key"
        );
        let tables = self.own_tables(id).await;
        assert!(tables.is_empty(), "tables left: {tables:?}");
        let role = self.backend.roles.describe_role(&plan.role_name).await;
        assert_eq!(
            role.map_err(|e| e.kind()).err(),
            Some(ErrorKind::NotFound),
            "the role still exists"
        );
    }
}

pub fn tenant(raw: &str) -> TenantId {
    TenantId::parse(raw).unwrap()
}

/// The (step, phase) pairs of a journal, for order assertions.
pub fn phases(journal: &[JournalEntry]) -> Vec<(String, JournalPhase)> {
    journal.iter().map(|e| (e.step.clone(), e.phase)).collect()
}
