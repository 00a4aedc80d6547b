//! One served data plane per test, and tenants onboarded for real (tables, key, role).

use std::sync::Arc;
use std::time::Duration;

use data_plane::insights::llm::{ChatRequest, Completion, Llm, LlmError, Narrator};
use data_plane::{AppState, DataPlaneSettings};
use provisioner::{NewTenant, Provisioner};
use reqwest::{Method, RequestBuilder, Response};
use secrecy::SecretString;
use serde_json::{Value, json};
use tenancy::api_key::{self, KeyHasher};
use tenancy::conformance::moto::{self, Deployment};
use tenancy::{ApiKeyKind, OwnerEmail, TenantId, TenantName, Tier};
use time::OffsetDateTime;

/// Which adapters a test's data plane runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in a fresh temporary data directory.
    Embedded,
    /// The AWS SDK against moto on loopback, under a deployment prefix of the test's own.
    Aws,
}

/// Runs each named `async fn(Backend)` as two tests, `embedded::<name>` and `aws::<name>`;
/// after `blocking:`, each named `fn(Backend)` (a test that runs its own runtime).
macro_rules! on_both_backends {
    (blocking: $($name:ident),+ $(,)?) => {
        mod embedded {
            $(
                #[test]
                fn $name() {
                    super::$name($crate::helpers::Backend::Embedded)
                }
            )+
        }
        mod aws {
            $(
                #[test]
                fn $name() {
                    super::$name($crate::helpers::Backend::Aws)
                }
            )+
        }
    };
    ($($name:ident),+ $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Embedded).await
                }
            )+
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Aws).await
                }
            )+
        }
    };
}
pub(crate) use on_both_backends;

pub struct TestApp {
    pub url: String,
    /// The moto deployment, on [`Backend::Aws`].
    pub moto: Option<std::sync::Arc<Deployment>>,
    pub state: AppState,
    pub provisioner: Provisioner,
    pub hasher: KeyHasher,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// A tenant with one key of each kind.
pub struct Tenant {
    pub id: TenantId,
    pub secret: String,
    pub publishable: String,
}

pub const ORIGIN: &str = "https://app.example.com";
/// The API-key pepper of every test data plane.
const PEPPER: &str = "test-pepper-0123456789abcdef0123456789";
/// The operator token `/metrics` takes in tests.
pub const OPERATOR_TOKEN: &str = "test-operator-token";

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    pub async fn spawn_on(kind: Backend) -> TestApp {
        TestApp::spawn_with_on(kind, |_| {}).await
    }

    /// [`TestApp::spawn_with_on`] the embedded backend.
    pub async fn spawn_with(change: impl FnOnce(&mut DataPlaneSettings)) -> TestApp {
        TestApp::spawn_with_on(Backend::Embedded, change).await
    }

    /// A data plane on `kind` with settings changed by `change`; the outbox processor is off
    /// (tests fold with [`TestApp::fold`]), the key cache TTL is 1 s.
    pub async fn spawn_with_on(
        kind: Backend,
        change: impl FnOnce(&mut DataPlaneSettings),
    ) -> TestApp {
        TestApp::spawn_full(kind, change, None).await
    }

    /// A data plane on `kind` whose summaries and chat answers `llm` writes.
    pub async fn spawn_with_llm_on(kind: Backend, llm: Arc<dyn Llm>) -> TestApp {
        TestApp::spawn_full(kind, |_| {}, Some(llm)).await
    }

    /// [`TestApp::spawn_with_llm_on`] with settings changed by `change`.
    pub async fn spawn_with_llm_and(
        kind: Backend,
        llm: Arc<dyn Llm>,
        change: impl FnOnce(&mut DataPlaneSettings),
    ) -> TestApp {
        TestApp::spawn_full(kind, change, Some(llm)).await
    }

    async fn spawn_full(
        kind: Backend,
        change: impl FnOnce(&mut DataPlaneSettings),
        llm: Option<Arc<dyn Llm>>,
    ) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = DataPlaneSettings::for_data_dir(dir.path());
        settings.process_outbox = false;
        settings.key_cache_ttl_secs = tenancy::settings::Bounded::must(1);
        settings.jwks_fetch = tenancy::end_user::FetchPolicy::LOOPBACK_FOR_TESTS;
        let moto = match kind {
            Backend::Embedded => None,
            Backend::Aws => {
                let deployment = Deployment::bootstrap(moto::fresh_prefix("dp")).await;
                let backend = &mut settings.backend;
                backend.backend = tenancy::settings::BackendKind::Aws;
                backend.table_prefix = deployment.prefix.clone();
                backend.cognito_user_pool_id = Some(deployment.pool.user_pool_id.clone());
                backend.cognito_client_id = Some(deployment.pool.client_id.clone());
                backend.identity_jwks_url = Some(deployment.cognito.jwks_url.clone());
                Some(std::sync::Arc::new(deployment))
            }
        };
        change(&mut settings);
        let backend = match &moto {
            None => tenancy::open(&settings.backend).await.unwrap(),
            Some(deployment) => deployment.backend(&settings.backend.data_plane_principal),
        };
        let pepper = SecretString::from(PEPPER);
        let hasher = service::secrets::key_hasher(&pepper);
        let provisioner = Provisioner::new(backend.clone(), settings.backend.clone());
        let mut state = AppState::new(backend, settings, &pepper).unwrap();
        if let Some(llm) = llm {
            state = state.with_llm(llm);
        }
        let state = state.with_operator_token(SecretString::from(OPERATOR_TOKEN));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(data_plane::serve(
            listener,
            state.clone(),
            std::future::pending(),
        ));
        TestApp {
            url,
            moto,
            state,
            provisioner,
            hasher,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// Onboards tenant `id` (allowing [`ORIGIN`]) and issues it a secret and a publishable key.
    pub async fn tenant(&self, id: &str) -> Tenant {
        let id = TenantId::parse(id).unwrap();
        self.provisioner
            .request(NewTenant {
                id: id.clone(),
                name: TenantName::parse("Test Tenant").unwrap(),
                owner_email: OwnerEmail::parse("ops@example.com").unwrap(),
                tier: Tier::Standard,
                allowed_origins: vec![tenancy::Origin::parse(ORIGIN).unwrap()],
                request: None,
            })
            .await
            .unwrap();
        self.provisioner.provision(&id).await.unwrap();
        self.state
            .origins
            .refresh(self.state.backend.registry.as_ref())
            .await
            .unwrap();
        Tenant {
            secret: self.issue(&id, ApiKeyKind::Secret).await,
            publishable: self.issue(&id, ApiKeyKind::Publishable).await,
            id,
        }
    }

    /// The names of tenant `id`'s resources, from its record.
    pub async fn resources(&self, id: &TenantId) -> tenancy::ResourceNames {
        self.state
            .backend
            .registry
            .get_tenant(id)
            .await
            .unwrap()
            .resources
    }

    /// A second data-plane state over the same backend and settings, as a new process (a
    /// cold Lambda instance) would have: nothing cached, no origins read yet.
    pub fn fresh_state(&self) -> AppState {
        AppState::new(
            self.state.backend.clone(),
            (*self.state.settings).clone(),
            &SecretString::from(PEPPER),
        )
        .unwrap()
        .with_operator_token(SecretString::from(OPERATOR_TOKEN))
    }

    pub async fn issue(&self, id: &TenantId, kind: ApiKeyKind) -> String {
        let issued = api_key::issue(&self.hasher, id, kind, OffsetDateTime::now_utc(), None);
        self.state
            .backend
            .registry
            .put_api_key(&issued.record)
            .await
            .unwrap();
        issued.key.expose().to_owned()
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.url))
    }

    /// A request with `key` and, for a publishable key, the allowed origin.
    pub fn with_key(&self, method: Method, path: &str, key: &str) -> RequestBuilder {
        let request = self.request(method, path).header("x-api-key", key);
        if key.starts_with("spk_pub_") {
            request.header("origin", ORIGIN)
        } else {
            request
        }
    }

    /// Creates `body` as a draft with `key` and publishes it; returns the published version.
    pub async fn publish(&self, key: &str, body: Value) -> Value {
        let created = self
            .with_key(Method::POST, "/v1/admin/content", key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
        let draft: Value = created.json().await.unwrap();
        let id = draft["id"].as_str().unwrap();
        let published = self
            .with_key(
                Method::POST,
                &format!("/v1/admin/content/{id}/publish"),
                key,
            )
            .header("if-match", format!("\"{}\"", draft["revision"]))
            .send()
            .await
            .unwrap();
        assert_eq!(
            published.status(),
            200,
            "{}",
            published.text().await.unwrap()
        );
        published.json().await.unwrap()
    }

    /// A platform admin token of tenant `id` for a new admin `email`: minted by the embedded
    /// issuer, or signed in to moto's Cognito.
    pub async fn admin_token(&self, id: &TenantId, email: &str) -> String {
        let identity = &self.state.backend.identity;
        let email = tenancy::ports::AdminEmail::parse(email).unwrap();
        let admin = identity.invite_admin(id, &email).await.unwrap();
        match &self.moto {
            None => {
                identity
                    .mint_token(id, &tenancy::ports::AdminRef::Id(admin.id.clone()))
                    .await
                    .unwrap()
                    .token
            }
            Some(deployment) => deployment.sign_in(email.as_str()).await.unwrap(),
        }
    }

    /// A platform token of tenant `id` for a new user `email` whose `cognito:groups` are
    /// `groups`: crafted with the embedded issuer's own key, or signed in to moto's Cognito
    /// after putting the user in those groups. The user is invited first, so it is on record
    /// too; remove it to test a strategy that does not look there.
    pub async fn token_in_groups(&self, id: &TenantId, email: &str, groups: &[&str]) -> String {
        let identity = &self.state.backend.identity;
        let email = tenancy::ports::AdminEmail::parse(email).unwrap();
        let admin = identity.invite_admin(id, &email).await.unwrap();
        match &self.moto {
            None => {
                let signer =
                    tenancy::embedded::load_or_create_signer(self.state.settings.data_dir())
                        .unwrap();
                let rules =
                    tenancy::embedded::token_rules(&self.state.settings.backend.table_prefix);
                let now = OffsetDateTime::now_utc().unix_timestamp();
                signer
                    .sign(&tenancy::jwt::IdClaims {
                        iss: rules.issuer,
                        aud: rules.audience,
                        sub: admin.id.to_string(),
                        email: email.to_string(),
                        token_use: "id".to_owned(),
                        tenant: id.to_string(),
                        iat: now,
                        exp: now + 3600,
                        nbf: None,
                        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
                    })
                    .unwrap()
            }
            Some(deployment) => {
                for group in groups {
                    deployment
                        .add_to_group(email.as_str(), group)
                        .await
                        .unwrap();
                }
                deployment.sign_in(email.as_str()).await.unwrap()
            }
        }
    }

    /// The environment a `data-plane` child process needs to serve this test's deployment.
    pub fn process_env(&self) -> Vec<(&'static str, String)> {
        let data_dir = self.state.settings.data_dir().to_owned();
        let mut env = vec![
            ("SPOTLIGHT_DATA_DIR", data_dir.display().to_string()),
            (
                "SPOTLIGHT_CONFIG",
                data_dir.join("none.toml").display().to_string(),
            ),
        ];
        if let Some(deployment) = &self.moto {
            env.extend(moto::process_env(&deployment.prefix));
        }
        env
    }

    /// Drains every tenant's outbox now (folds its events, publishes its domain events);
    /// says how many events were folded.
    pub async fn fold(&self) -> usize {
        data_plane::events::runner::sweep(&self.state.backend)
            .await
            .unwrap()
            .folded
    }

    /// Waits out the key cache's TTL (1 s in tests).
    pub async fn past_cache_ttl(&self) {
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
}

/// A two-step tour on `/dashboard*`.
pub fn tour() -> Value {
    json!({
        "kind": "tour",
        "name": "Welcome",
        "targeting": {"urls": ["/dashboard*"]},
        "steps": [
            {"title": "Hello", "body": "This is the menu", "target": "#menu"},
            {"title": "Next", "body": "And the search", "target": "#search"},
        ],
    })
}

/// The ids of a published version's steps.
pub fn step_ids(published: &Value) -> Vec<String> {
    published["body"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A batch of `events` sent now.
pub fn batch(events: Vec<Value>) -> Value {
    json!({"sent_at": now(), "events": events})
}

/// An event of `kind` on `step` of version 1 of `content`, by anonymous user `user`.
pub fn event(kind: &str, content: &str, step: &str, user: &str) -> Value {
    json!({
        "event_id": uuid::Uuid::new_v4(),
        "type": kind,
        "content_id": content,
        "content_version": 1,
        "step_id": step,
        "ts": now(),
        "anonymous_id": user,
    })
}

pub fn now() -> String {
    OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// The body of an error answer, checked to be the shared error body.
pub async fn error_code(response: Response) -> String {
    let body: Value = response.json().await.unwrap();
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not the error body: {body}"))
        .to_owned()
}

/// A model that answers with the narrator's text (so its answers pass the post-check) or,
/// when told to, fails as an unreachable model would; it counts the calls made to it.
#[derive(Default)]
pub struct CountingModel {
    pub calls: std::sync::atomic::AtomicU32,
    pub down: std::sync::atomic::AtomicBool,
}

impl CountingModel {
    pub fn calls(&self) -> u32 {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl Llm for CountingModel {
    fn model(&self) -> &str {
        "counting-model"
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion, LlmError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(LlmError::Unavailable("the test model is down".to_owned()));
        }
        Ok(Completion {
            text: Narrator::narrate(&request.facts),
            input_tokens: 500,
            output_tokens: 50,
            model: "counting-model".to_owned(),
            latency: std::time::Duration::ZERO,
        })
    }
}
