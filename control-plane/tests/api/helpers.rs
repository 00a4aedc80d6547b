//! `TestApp`: the real control plane on 127.0.0.1:0 over a fresh data directory, with typed
//! request helpers. Every test spawns its own, so tests share nothing.

#![allow(dead_code)] // each test module uses a different subset

use std::path::{Path, PathBuf};
use std::time::Duration;

use control_plane::{AppState, ControlPlaneSettings};
use provisioner::config::Bounded;
use reqwest::{Method, Response, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub struct TestApp {
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    pub client: reqwest::Client,
    /// The operator token this app accepts.
    pub token: String,
    pub data_dir: PathBuf,
    /// The same state the server runs on (its provisioner, registry, run tracker).
    pub state: AppState,
    server: tokio::task::JoinHandle<()>,
    /// Owns the temporary data directory when the app created it.
    _dir: Option<tempfile::TempDir>,
}

impl TestApp {
    /// A fresh app over a new temporary data directory.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// A fresh app whose settings `configure` may adjust first (limits, timeouts, …).
    pub async fn spawn_with(configure: impl FnOnce(&mut ControlPlaneSettings)) -> TestApp {
        let dir = tempfile::tempdir().expect("temporary data directory");
        let mut app = Self::start(dir.path(), configure).await;
        app._dir = Some(dir);
        app
    }

    /// An app over an existing data directory (owned by the caller), resuming the tenant
    /// runs a previous process left unfinished — what a restart does.
    pub async fn spawn_in(data_dir: &Path) -> TestApp {
        Self::start(data_dir, |_| {}).await
    }

    /// The settings a test app runs with over `data_dir`.
    pub fn settings_for(data_dir: &Path) -> ControlPlaneSettings {
        let mut settings = ControlPlaneSettings::for_data_dir(data_dir);
        settings.operator_token = Some(SecretString::from(TEST_TOKEN.to_owned()));
        settings.provisioner.key_deletion_window_days = Bounded::must(0);
        settings
    }

    async fn start(data_dir: &Path, configure: impl FnOnce(&mut ControlPlaneSettings)) -> TestApp {
        let mut settings = Self::settings_for(data_dir);
        configure(&mut settings);
        let (state, secrets) = AppState::from_settings(settings)
            .await
            .expect("control plane state");
        state
            .runs
            .resume_in_flight()
            .await
            .expect("resuming in-flight tenants");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server_state = state.clone();
        let server = tokio::spawn(async move {
            control_plane::serve(listener, server_state, std::future::pending())
                .await
                .expect("server");
        });
        use secrecy::ExposeSecret;
        TestApp {
            base,
            client: reqwest::Client::new(),
            token: secrets.operator_token.expose_secret().to_owned(),
            data_dir: data_dir.to_owned(),
            state,
            server,
            _dir: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with the operator token.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.expect("GET")
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path)
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    /// A POST without a body (state transitions).
    pub async fn post_empty(&self, path: &str) -> Response {
        self.request(Method::POST, path).send().await.expect("POST")
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.request(Method::PATCH, path)
            .json(body)
            .send()
            .await
            .expect("PATCH")
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.request(Method::PUT, path)
            .json(body)
            .send()
            .await
            .expect("PUT")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path)
            .send()
            .await
            .expect("DELETE")
    }

    /// `POST /tenants` (no wait).
    pub async fn post_tenant(&self, body: &Value) -> Response {
        self.post("/tenants", body).await
    }

    /// `POST /tenants?wait=true` for `id`; asserts 201 and returns the active tenant.
    pub async fn onboard(&self, id: &str) -> Value {
        let response = self.post("/tenants?wait=true", &tenant_body(id)).await;
        let (status, body) = json_of(response).await;
        assert_eq!(status, StatusCode::CREATED, "onboarding {id}: {body}");
        assert_eq!(body["status"], "active", "onboarding {id}: {body}");
        body
    }

    /// `method path` with no `Authorization` header at all.
    pub async fn request_without_token(&self, method: Method, path: &str) -> Response {
        self.client
            .request(method, self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// `method path` with `Authorization: Bearer {token}`.
    pub async fn request_with_token(&self, method: Method, path: &str, token: &str) -> Response {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// `POST path` with a JSON body and an `Idempotency-Key`.
    pub async fn with_idempotency_key(&self, key: &str, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .expect("POST with Idempotency-Key")
    }

    /// `GET /tenants/{id}` as JSON; asserts 200.
    pub async fn tenant(&self, id: &str) -> Value {
        let (status, body) = json_of(self.get(&format!("/tenants/{id}")).await).await;
        assert_eq!(status, StatusCode::OK, "GET /tenants/{id}: {body}");
        body
    }

    /// Polls `GET /tenants/{id}` until its status is one of `wanted` (bounded number of
    /// polls, each after a short pause; fails the test with the last body otherwise).
    pub async fn wait_for_status(&self, id: &str, wanted: &[&str]) -> Value {
        let mut last = Value::Null;
        for _ in 0..POLLS {
            last = self.tenant(id).await;
            if wanted.iter().any(|w| last["status"] == *w) {
                return last;
            }
            tokio::time::sleep(POLL_PAUSE).await;
        }
        panic!("tenant {id} never reached {wanted:?}; last seen: {last}");
    }

    /// Ids of every tenant the API lists (all pages).
    pub async fn tenant_ids(&self) -> Vec<String> {
        let mut ids = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(a) => format!("/tenants?limit=1000&after={a}"),
                None => "/tenants?limit=1000".to_owned(),
            };
            let (status, body) = json_of(self.get(&path).await).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            ids.extend(
                body["tenants"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["id"].as_str().unwrap().to_owned()),
            );
            match body["next"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => return ids,
            }
        }
    }

    /// Every file under the data directory whose path mentions `needle` (tenant files,
    /// key material named after a tenant, …).
    pub fn files_mentioning(&self, needle: &str) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![self.data_dir.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path.clone());
                }
                if path
                    .strip_prefix(&self.data_dir)
                    .is_ok_and(|p| p.to_string_lossy().contains(needle))
                {
                    found.push(path);
                }
            }
        }
        found
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub const TEST_TOKEN: &str = "spo_test-operator-token";
const POLLS: usize = 400;
const POLL_PAUSE: Duration = Duration::from_millis(50);

/// A valid `POST /tenants` body for `id`.
pub fn tenant_body(id: &str) -> Value {
    json!({
        "id": id,
        "name": format!("Tenant {id}"),
        "owner_email": format!("ops@{id}.example.com"),
        "allowed_origins": [format!("https://app.{id}.example.com")],
    })
}

/// Status and JSON body of a response (asserts the body is JSON).
pub async fn json_of(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("response body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {text:?}"));
    (status, body)
}

/// Asserts the one error shape `{"error": {"code", "message", ...}}` with `code`; returns
/// the `error` object.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    let (got, body) = json_of(response).await;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body["error"].clone()
}

/// Every route the control plane serves, as `(method, path template)`; `{id}` is a tenant id,
/// `{key_id}` an API key id. Auth and OpenAPI tests iterate over it.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/tenants"),
    ("GET", "/metrics"),
    ("GET", "/tenants"),
    ("GET", "/tenants/{id}"),
    ("PATCH", "/tenants/{id}"),
    ("DELETE", "/tenants/{id}"),
    ("POST", "/tenants/{id}/suspend"),
    ("POST", "/tenants/{id}/resume"),
    ("POST", "/tenants/{id}/retry"),
    ("POST", "/tenants/{id}/api-keys"),
    ("GET", "/tenants/{id}/api-keys"),
    ("DELETE", "/tenants/{id}/api-keys/{key_id}"),
    ("GET", "/tenants/{id}/drift"),
    ("GET", "/tenants/{id}/usage"),
    ("POST", "/api-keys/introspect"),
    ("POST", "/tenants/{id}/admins"),
    ("GET", "/tenants/{id}/admins"),
    ("DELETE", "/tenants/{id}/admins/{admin}"),
    ("POST", "/tenants/{id}/admins/{admin}/token"),
    ("PUT", "/tenants/{id}/identity"),
    ("GET", "/tenants/{id}/identity"),
    ("DELETE", "/tenants/{id}/identity"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/openapi.json"),
];

/// Routes anyone may call.
pub const PUBLIC_ROUTES: &[&str] = &["/healthz", "/readyz", "/openapi.json"];

/// The admin a filled-in `{admin}` names: the isolation test invites it to tenant B.
pub const ADMIN_IN_PATHS: &str = "admin@tenant-b.example.com";

/// A route template with its parameters filled in (`{admin}` with [`ADMIN_IN_PATHS`]).
pub fn fill(template: &str, id: &str, key_id: &str) -> String {
    template
        .replace("{id}", id)
        .replace("{key_id}", key_id)
        .replace("{admin}", ADMIN_IN_PATHS)
}

pub fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).expect("HTTP method")
}

/// Which of a tenant's resources exist in the backend right now.
#[derive(Debug, PartialEq, Eq)]
pub struct Presence {
    pub app_table: bool,
    pub events_table: bool,
    /// The key alias resolves to a key that is still enabled.
    pub usable_key: bool,
    pub role: bool,
}

impl Presence {
    pub const ALL: Presence = Presence {
        app_table: true,
        events_table: true,
        usable_key: true,
        role: true,
    };
    pub const NONE: Presence = Presence {
        app_table: false,
        events_table: false,
        usable_key: false,
        role: false,
    };
}

impl TestApp {
    /// Asks the backend (not the API) which of tenant `id`'s resources exist.
    pub async fn presence(&self, id: &str) -> Presence {
        let tenant = tenancy::TenantId::parse(id).expect("tenant id");
        let names = self.state.provisioner.plan(&tenant).names;
        let backend = self.state.provisioner.backend();
        let exists = |r: tenancy::Result<()>| match r {
            Ok(()) => true,
            Err(e) if e.kind() == tenancy::ErrorKind::NotFound => false,
            Err(e) => panic!("describing a resource of {id}: {e}"),
        };
        let key = match backend.keys.describe_key(&names.key_alias).await {
            Ok(info) => info.state == tenancy::ports::KeyState::Enabled,
            Err(e) if e.kind() == tenancy::ErrorKind::NotFound => false,
            Err(e) => panic!("describing the key of {id}: {e}"),
        };
        Presence {
            app_table: exists(
                backend
                    .tables
                    .describe_table(&names.app_table)
                    .await
                    .map(drop),
            ),
            events_table: exists(
                backend
                    .tables
                    .describe_table(&names.events_table)
                    .await
                    .map(drop),
            ),
            usable_key: key,
            role: exists(
                backend
                    .roles
                    .describe_role(&names.role_name)
                    .await
                    .map(drop),
            ),
        }
    }

    /// Waits (bounded) until this process has no provisioning or offboarding run left.
    pub async fn wait_for_runs_to_finish(&self) {
        for _ in 0..POLLS {
            if self.state.runs.is_empty() {
                return;
            }
            tokio::time::sleep(POLL_PAUSE).await;
        }
        panic!("background runs never finished: {:?}", self.state.runs);
    }
}

/// The built `control-plane` binary serving on a port of its own, configured only by the
/// environment: a fresh one holding nothing but `PATH`, the data directory, an ephemeral
/// loopback address, no config file, and `env`.
pub struct Binary {
    pub child: std::process::Child,
    /// `http://127.0.0.1:{port}`, read from the start-up banner.
    pub base: String,
    /// The rest of its standard output. Kept open: the binary prints more after its banner,
    /// and a closed pipe would kill it.
    pub stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Binary {
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> Binary {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_control-plane"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("SPOTLIGHT_DATA_DIR", data_dir)
            .env("SPOTLIGHT_CONTROL_PLANE_ADDR", "127.0.0.1:0")
            .env("SPOTLIGHT_CONFIG", data_dir.join("absent.toml"))
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("control-plane binary starts");
        // First line: "Spotlight control plane listening on http://127.0.0.1:PORT".
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut banner = String::new();
        stdout.read_line(&mut banner).unwrap();
        let base = banner
            .trim()
            .rsplit(' ')
            .next()
            .filter(|u| u.starts_with("http://"))
            .unwrap_or_else(|| panic!("unexpected banner {banner:?}"))
            .to_owned();
        Binary {
            child,
            base,
            stdout,
        }
    }

    /// SIGKILL, and wait for it to be gone.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}
