//! The data plane under load, in one run, on the embedded backend: the bare axum ceiling,
//! content fetches, event ingest with the outbox processor running, tenant resolution among
//! 100,000 tenants, a noisy neighbour, and the binary's cold start and size.
//!
//! Run: `cargo bench -p data-plane --bench load` (`-- 10` for 10 s load windows, default 5;
//! `-- v7` for time-ordered event ids instead of random ones; `-- content ingest` runs only
//! the sections named: `hello`, `content`, `ingest`, `resolution`, `neighbours`, `cold`; the
//! ceiling is measured in every run).
//!
//! The servers run on a runtime of their own (two workers, its own blocking pool for SQLite);
//! the load comes from a second runtime in the same process over loopback: N keep-alive
//! HTTP/1.1 connections, each sending its next request when the last answer is read, for a
//! fixed time, through a minimal client that writes prepared bytes and reads one
//! `Content-Length` answer. Both runtimes share the machine's cores, so the client's CPU is
//! part of every number, the ceiling included.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use data_plane::events::ingest::OUTBOX_SHARDS;
use data_plane::resolve::tenant::{CacheLimits, Resolver};
use data_plane::{AppState, DataPlaneSettings};
use provisioner::{NewTenant, Provisioner};
use secrecy::SecretString;
use serde_json::{Value, json};
use tenancy::api_key::{self, KeyHasher};
use tenancy::backend::Backend;
use tenancy::ports::{Query, SortKeyCondition};
use tenancy::settings::Bounded;
use tenancy::table_plan::keys;
use tenancy::{
    ApiKeyKind, JournalEntry, JournalPhase, OwnerEmail, ResourceNames, TablePrefix, TenantId,
    TenantName, TenantRecord, TenantStatus, Tier,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::Barrier;

const ORIGIN: &str = "https://app.example.com";
const PEPPER: &str = "load-test-pepper-0123456789abcdef01234567";
/// Connections of the throughput runs.
const CONNECTIONS: usize = 32;
/// Tenants sending events at once, connections each, events per batch.
const INGEST_TENANTS: usize = 16;
const INGEST_CONNECTIONS_PER_TENANT: usize = 4;
const BATCH: usize = 250;
/// Tenants in the registry for the resolution run; first lookups timed.
const REGISTRY_TENANTS: usize = 100_000;
const SEED_TASKS: usize = 8;
/// Cached lookups timed one by one.
const CACHED_LOOKUPS: usize = 1_000_000;
/// The noisy neighbour: tenant A's connections, tenant B's steady rate, their limit.
const FLOOD_CONNECTIONS: usize = 32;
const STEADY_RATE: u32 = 200;
const TENANT_RATE: u64 = 1_000;
/// Cold starts timed.
const COLD_STARTS: usize = 11;
/// The longest wait for the outbox to drain after ingest.
const DRAIN_CAP: Duration = Duration::from_secs(240);

struct Args {
    window: Duration,
    v7: bool,
    /// Sections to run (`hello`, `content`, `ingest`, `resolution`, `neighbours`, `cold`);
    /// none named: all.
    only: Vec<String>,
}

impl Args {
    fn runs(&self, section: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == section)
    }
}

const SECTIONS: [&str; 6] = [
    "hello",
    "content",
    "ingest",
    "resolution",
    "neighbours",
    "cold",
];

fn args() -> Args {
    let mut window = Duration::from_secs(5);
    let mut v7 = false;
    let mut only = Vec::new();
    for arg in std::env::args().skip(1) {
        if let Ok(secs) = arg.parse::<u64>() {
            window = Duration::from_secs(secs.max(1));
        } else if arg == "v7" {
            v7 = true;
        } else if SECTIONS.contains(&arg.as_str()) {
            only.push(arg);
        }
    }
    Args { window, v7, only }
}

/// One line of the final table.
struct Row {
    what: String,
    target: String,
    measured: String,
    met: Option<bool>,
}

fn row(what: &str, target: &str, measured: String, met: Option<bool>) -> Row {
    Row {
        what: what.to_owned(),
        target: target.to_owned(),
        measured,
        met,
    }
}

fn main() {
    let args = args();
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("server")
        .enable_all()
        .build()
        .expect("server runtime");
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("client")
        .enable_all()
        .build()
        .expect("client runtime");
    let root = tempfile::tempdir().expect("temporary directory");
    println!(
        "data plane load test: {} s windows, {} event ids, {} cores",
        args.window.as_secs(),
        if args.v7 {
            "time-ordered (v7)"
        } else {
            "random (v4)"
        },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut rows = Vec::new();
    client.block_on(async {
        let ceiling = hello(server.handle(), args.window).await;
        if args.runs("hello") {
            rows.push(row(
                "bare axum `GET /hello` (ceiling)",
                "—",
                format!(
                    "{:.0} req/s, p50 {} p99 {}",
                    ceiling.rate(),
                    us(ceiling.pct(50.0)),
                    us(ceiling.pct(99.0))
                ),
                None,
            ));
        }
        if args.runs("content") || args.runs("ingest") {
            let main = Served::start(server.handle(), &root.path().join("main"), |s| {
                s.tenant_rate = Bounded::must(1_000_000);
                s.tenant_burst = Bounded::must(1_000_000);
                s.process_outbox = true;
            })
            .await;
            if args.runs("content") {
                rows.extend(content(&main, args.window, ceiling.rate()).await);
            }
            if args.runs("ingest") {
                rows.extend(ingest(&main, args.window, args.v7).await);
            }
            main.background_stop().await;
        }
        if args.runs("resolution") {
            rows.extend(resolution(&root).await);
        }
        if args.runs("neighbours") {
            let noisy = Served::start(server.handle(), &root.path().join("noisy"), |s| {
                s.tenant_rate = Bounded::must(TENANT_RATE);
                s.tenant_burst = Bounded::must(TENANT_RATE);
                s.process_outbox = false;
            })
            .await;
            rows.extend(neighbours(&noisy, args.window).await);
        }
    });
    if args.runs("cold") {
        rows.extend(cold_start(root.path()));
    }
    server.shutdown_background();
    client.shutdown_background();

    println!();
    println!("| measure | target | measured | met? |");
    println!("|---|---|---|---|");
    for r in &rows {
        let met = match r.met {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "—",
        };
        println!("| {} | {} | {} | {met} |", r.what, r.target, r.measured);
    }
}

// ---------------------------------------------------------------------------------------
// Servers

/// A data plane served on the server runtime, with its tenants' setup helpers.
struct Served {
    addr: SocketAddr,
    url: String,
    state: AppState,
    provisioner: Provisioner,
    hasher: KeyHasher,
    server: Handle,
    background: Option<data_plane::state::Background>,
    http: reqwest::Client,
}

/// An onboarded tenant with its keys and one published tour.
struct Tenant {
    id: TenantId,
    publishable: String,
    content_id: String,
    step_ids: Vec<String>,
}

impl Served {
    async fn start(
        server: &Handle,
        dir: &Path,
        change: impl FnOnce(&mut DataPlaneSettings),
    ) -> Served {
        std::fs::create_dir_all(dir).expect("data directory");
        let mut settings = DataPlaneSettings::for_data_dir(dir);
        change(&mut settings);
        let backend = tenancy::open(&settings.backend).await.expect("backend");
        let pepper = SecretString::from(PEPPER);
        let hasher = service::secrets::key_hasher(&pepper);
        let provisioner = Provisioner::new(backend.clone(), settings.backend.clone());
        let state = AppState::new(backend, settings, &pepper).expect("the data plane's state");
        let (addr, listener) = listener();
        let served = state.clone();
        server.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            data_plane::serve(listener, served, std::future::pending()).await
        });
        let for_background = state.clone();
        let background = server
            .spawn(async move { data_plane::state::spawn_background(&for_background) })
            .await
            .expect("background tasks");
        Served {
            addr,
            url: format!("http://{addr}"),
            state,
            provisioner,
            hasher,
            server: server.clone(),
            background: Some(background),
            http: reqwest::Client::new(),
        }
    }

    async fn background_stop(mut self) {
        if let Some(background) = self.background.take() {
            background.stop();
        }
        // Dropping the state leaves the server serving; nothing else uses it.
        let _ = &self.server;
    }

    /// Onboards `id` allowing [`ORIGIN`], issues a secret and a publishable key, and publishes
    /// [`tour`] with the secret one.
    async fn tenant(&self, id: &str) -> Tenant {
        let id = TenantId::parse(id).expect("tenant id");
        self.provisioner
            .request(NewTenant {
                id: id.clone(),
                name: TenantName::parse("Load Test").expect("name"),
                owner_email: OwnerEmail::parse("ops@example.com").expect("email"),
                tier: Tier::Standard,
                allowed_origins: vec![tenancy::Origin::parse(ORIGIN).expect("origin")],
                request: None,
            })
            .await
            .expect("tenant requested");
        self.provisioner
            .provision(&id)
            .await
            .expect("tenant provisioned");
        self.state
            .origins
            .refresh(self.state.backend.registry.as_ref())
            .await
            .expect("origins");
        let secret = self.issue(&id, ApiKeyKind::Secret).await;
        let publishable = self.issue(&id, ApiKeyKind::Publishable).await;
        let created: Value = self
            .http
            .post(format!("{}/v1/admin/content", self.url))
            .header("x-api-key", &secret)
            .json(&tour())
            .send()
            .await
            .expect("create content")
            .json()
            .await
            .expect("draft");
        let content_id = created["id"].as_str().expect("content id").to_owned();
        let published: Value = self
            .http
            .post(format!(
                "{}/v1/admin/content/{content_id}/publish",
                self.url
            ))
            .header("x-api-key", &secret)
            .header("if-match", format!("\"{}\"", created["revision"]))
            .send()
            .await
            .expect("publish")
            .json()
            .await
            .expect("published");
        let step_ids = published["body"]["steps"]
            .as_array()
            .expect("published steps")
            .iter()
            .map(|s| s["id"].as_str().expect("step id").to_owned())
            .collect();
        Tenant {
            id,
            publishable,
            content_id,
            step_ids,
        }
    }

    async fn issue(&self, id: &TenantId, kind: ApiKeyKind) -> String {
        let issued = api_key::issue(&self.hasher, id, kind, OffsetDateTime::now_utc(), None);
        self.state
            .backend
            .registry
            .put_api_key(&issued.record)
            .await
            .expect("API key stored");
        issued.key.expose().to_owned()
    }
}

fn listener() -> (SocketAddr, std::net::TcpListener) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("non-blocking");
    (listener.local_addr().expect("local addr"), listener)
}

/// A six-step tour on `/dashboard*`: its SDK answer is about 2 KB.
fn tour() -> Value {
    let step = |n: usize| {
        json!({
            "title": format!("Step {n}: what this part of the dashboard does"),
            "body": format!(
                "This panel shows the numbers your team looks at every morning. Click a \
                 tile to open its report, drag it to reorder, or pin it to the top. Step {n} of 6."
            ),
            "target": format!("#dashboard-panel-{n}"),
        })
    };
    json!({
        "kind": "tour",
        "name": "Dashboard walkthrough",
        "targeting": {"urls": ["/dashboard*"]},
        "steps": (1..=6).map(step).collect::<Vec<_>>(),
    })
}

// ---------------------------------------------------------------------------------------
// The client

/// One keep-alive HTTP/1.1 connection: writes a prepared request, reads one answer that
/// carries `Content-Length` (hyper sends it for every full body the data plane answers).
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    len: usize,
    /// The previous answer's end, dropped before the next request.
    used: usize,
    body: std::ops::Range<usize>,
}

impl Conn {
    async fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: vec![0; 16 * 1024],
            len: 0,
            used: 0,
            body: 0..0,
        })
    }

    /// Sends `request` and reads its answer; returns the status (the body is [`Conn::body`]).
    async fn exchange(&mut self, request: &[u8]) -> io::Result<u16> {
        if self.used > 0 {
            self.buf.copy_within(self.used..self.len, 0);
            self.len -= self.used;
            self.used = 0;
        }
        self.stream.write_all(request).await?;
        let head_end = loop {
            if let Some(i) = self.buf[..self.len]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
            {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = &self.buf[..head_end];
        let status = std::str::from_utf8(head.get(9..12).unwrap_or_default())
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other("no status line"))?;
        let length = head
            .split(|&b| b == b'\n')
            .find_map(|line| {
                let line = std::str::from_utf8(line).ok()?;
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .ok_or_else(|| io::Error::other("an answer without Content-Length"))?;
        let end = head_end + length;
        while self.len < end {
            self.fill().await?;
        }
        self.body = head_end..end;
        self.used = end;
        Ok(status)
    }

    fn body(&self) -> &[u8] {
        &self.buf[self.body.clone()]
    }

    async fn fill(&mut self) -> io::Result<()> {
        if self.buf.len() - self.len < 4096 {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = self.stream.read(&mut self.buf[self.len..]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.len += n;
        Ok(())
    }
}

/// What a connection sends: the same bytes every time, or bytes made for each request.
#[derive(Clone)]
enum Request {
    Fixed(Arc<[u8]>),
    Made(Arc<dyn Fn() -> Vec<u8> + Send + Sync>),
}

/// How many units (requests, events) an answer counts for.
type Units = fn(u16, &[u8]) -> u64;

fn one_per_200(status: u16, _: &[u8]) -> u64 {
    u64::from(status == 200)
}

/// The outcome of a run.
#[derive(Default)]
struct Load {
    requests: u64,
    units: u64,
    errors: u64,
    statuses: BTreeMap<u16, u64>,
    /// Nanoseconds, sorted.
    latencies: Vec<u64>,
    elapsed: Duration,
}

impl Load {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn unit_rate(&self) -> f64 {
        self.units as f64 / self.elapsed.as_secs_f64()
    }

    fn pct(&self, p: f64) -> Duration {
        pct(&self.latencies, p)
    }

    fn merge(&mut self, other: Load) {
        self.requests += other.requests;
        self.units += other.units;
        self.errors += other.errors;
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.latencies.extend(other.latencies);
    }

    fn finish(mut self, elapsed: Duration) -> Load {
        self.latencies.sort_unstable();
        self.elapsed = elapsed;
        self
    }
}

fn pct(sorted: &[u64], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Duration::from_nanos(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// `connections` connections to `addr`, each sending `request` as soon as its last answer is
/// read, for `duration`.
async fn closed_loop(
    addr: SocketAddr,
    connections: &[Request],
    duration: Duration,
    units: Units,
) -> Load {
    let start = Arc::new(Barrier::new(connections.len() + 1));
    let mut tasks = Vec::new();
    for request in connections {
        let request = request.clone();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(addr).await.expect("connect");
            let mut load = Load {
                latencies: Vec::with_capacity(1 << 16),
                ..Load::default()
            };
            start.wait().await;
            let end = Instant::now() + duration;
            let mut now = Instant::now();
            while now < end {
                let made;
                let bytes: &[u8] = match &request {
                    Request::Fixed(bytes) => bytes,
                    Request::Made(make) => {
                        made = make();
                        &made
                    }
                };
                let t0 = Instant::now();
                match conn.exchange(bytes).await {
                    Ok(status) => {
                        now = Instant::now();
                        load.latencies.push((now - t0).as_nanos() as u64);
                        load.requests += 1;
                        load.units += units(status, conn.body());
                        *load.statuses.entry(status).or_default() += 1;
                    }
                    Err(_) => {
                        load.errors += 1;
                        conn = Conn::connect(addr).await.expect("reconnect");
                        now = Instant::now();
                    }
                }
            }
            load
        }));
    }
    start.wait().await;
    let t0 = Instant::now();
    let mut total = Load::default();
    for task in tasks {
        total.merge(task.await.expect("connection task"));
    }
    total.finish(t0.elapsed())
}

/// One connection sending `request` `rate` times a second for `duration`, on a thread and
/// runtime of its own so that other load in this process does not delay its sends.
fn steady(
    addr: SocketAddr,
    request: Arc<[u8]>,
    rate: u32,
    duration: Duration,
) -> std::thread::JoinHandle<Load> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("steady runtime");
        rt.block_on(async move {
            let mut conn = Conn::connect(addr).await.expect("connect");
            let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut load = Load::default();
            let t0 = Instant::now();
            while t0.elapsed() < duration {
                tick.tick().await;
                let sent = Instant::now();
                let status = conn.exchange(&request).await.expect("steady request");
                load.latencies.push(sent.elapsed().as_nanos() as u64);
                load.requests += 1;
                *load.statuses.entry(status).or_default() += 1;
            }
            load.finish(t0.elapsed())
        })
    })
}

fn get(path: &str, key: &str) -> Arc<[u8]> {
    format!(
        "GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nx-api-key: {key}\r\norigin: {ORIGIN}\r\n\r\n"
    )
    .into_bytes()
    .into()
}

const CONTENT_PATH: &str = "/v1/sdk/content?url=https%3A%2F%2Fapp.example.com%2Fdashboard";

fn us(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.0} µs", d.as_secs_f64() * 1e6)
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }
}

fn statuses(load: &Load) -> String {
    load.statuses
        .iter()
        .map(|(s, n)| format!("{s}×{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------------------
// 1. The ceiling

async fn hello(server: &Handle, window: Duration) -> Load {
    use axum::routing::get as route;
    let router = axum::Router::new().route("/hello", route(|| async { "hello" }));
    let limits = DataPlaneSettings::default().server.limits();
    let (addr, listener) = listener();
    server.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
        service::server::serve(listener, router, limits, std::future::pending()).await
    });
    let request: Arc<[u8]> = b"GET /hello HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"
        .to_vec()
        .into();
    let connections = vec![Request::Fixed(request); CONNECTIONS];
    closed_loop(addr, &connections, Duration::from_secs(1), one_per_200).await;
    let load = closed_loop(addr, &connections, window, one_per_200).await;
    println!(
        "hello: {:.0} req/s over {CONNECTIONS} connections, p50 {} p99 {} ({}, {} errors)",
        load.rate(),
        us(load.pct(50.0)),
        us(load.pct(99.0)),
        statuses(&load),
        load.errors
    );
    load
}

// ---------------------------------------------------------------------------------------
// 2. Content

async fn content(served: &Served, window: Duration, ceiling: f64) -> Vec<Row> {
    let tenant = served.tenant("content").await;
    let request = get(CONTENT_PATH, &tenant.publishable);
    let sample = served
        .http
        .get(format!("{}{CONTENT_PATH}", served.url))
        .header("x-api-key", &tenant.publishable)
        .header("origin", ORIGIN)
        .send()
        .await
        .expect("content");
    assert_eq!(sample.status(), 200);
    let size = sample.bytes().await.expect("content body").len();
    let connections = vec![Request::Fixed(request); CONNECTIONS];
    closed_loop(
        served.addr,
        &connections,
        Duration::from_secs(1),
        one_per_200,
    )
    .await;
    let load = closed_loop(served.addr, &connections, window, one_per_200).await;
    let ratio = load.unit_rate() / ceiling;
    let p99 = load.pct(99.0);
    println!(
        "content: {:.0} req/s ({ratio:.2} × ceiling) over {CONNECTIONS} connections, {size} B answers, p50 {} p99 {} ({}, {} errors)",
        load.unit_rate(),
        us(load.pct(50.0)),
        us(p99),
        statuses(&load),
        load.errors
    );
    vec![
        row(
            &format!("content fetch, {size} B answer, {CONNECTIONS} connections"),
            "≥ 0.85 × ceiling",
            format!("{:.0} req/s = {ratio:.2} × ceiling", load.unit_rate()),
            Some(ratio >= 0.85),
        ),
        row(
            "content fetch latency",
            "p99 ≤ 3 ms",
            format!("p50 {} p99 {}", us(load.pct(50.0)), us(p99)),
            Some(p99 <= Duration::from_millis(3)),
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// 3. Ingest

fn accepted(status: u16, body: &[u8]) -> u64 {
    if status != 200 {
        return 0;
    }
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["accepted"].as_u64())
        .unwrap_or(0)
}

/// A fresh batch of [`BATCH`] impressions of `tenant`'s tour, sent now.
fn batch_request(tenant: &Tenant, v7: bool) -> Request {
    let head = format!(
        "POST /v1/sdk/events HTTP/1.1\r\nhost: 127.0.0.1\r\nx-api-key: {}\r\norigin: {ORIGIN}\r\ncontent-type: application/json\r\n",
        tenant.publishable
    );
    let content_id = tenant.content_id.clone();
    let step_ids = tenant.step_ids.clone();
    Request::Made(Arc::new(move || {
        let now = OffsetDateTime::now_utc().format(&Rfc3339).expect("now");
        let mut body = String::with_capacity(BATCH * 220 + 64);
        let _ = write!(body, "{{\"sent_at\":\"{now}\",\"events\":[");
        for i in 0..BATCH {
            let id = if v7 {
                uuid::Uuid::now_v7()
            } else {
                uuid::Uuid::new_v4()
            };
            let step = &step_ids[i % step_ids.len()];
            let visitor = id.as_bytes()[15] as u32 * 4 + (i as u32 % 4);
            if i > 0 {
                body.push(',');
            }
            let _ = write!(
                body,
                "{{\"event_id\":\"{id}\",\"type\":\"impression\",\"content_id\":\"{content_id}\",\"content_version\":1,\"step_id\":\"{step}\",\"ts\":\"{now}\",\"anonymous_id\":\"visitor-{visitor}\"}}"
            );
        }
        body.push_str("]}");
        let mut request = head.clone().into_bytes();
        let _ = write!(request, "content-length: {}\r\n\r\n", body.len());
        request.extend_from_slice(body.as_bytes());
        request
    }))
}

async fn outbox_left(backend: &Backend, tables: &[String], stop_at_first: bool) -> usize {
    let mut n = 0;
    for table in tables {
        for shard in 0..OUTBOX_SHARDS {
            let mut query = Query {
                pk: keys::outbox(shard),
                sk: SortKeyCondition::Any,
                limit: if stop_at_first { 1 } else { 1000 },
                ..Query::default()
            };
            loop {
                let page = backend
                    .items
                    .query(table, &query)
                    .await
                    .expect("outbox query");
                n += page.items.len();
                if stop_at_first && n > 0 {
                    return n;
                }
                match page.next {
                    Some(next) => query.start_after = Some(next),
                    None => break,
                }
            }
        }
    }
    n
}

async fn ingest(served: &Served, window: Duration, v7: bool) -> Vec<Row> {
    let mut tenants = Vec::new();
    for i in 0..INGEST_TENANTS {
        tenants.push(served.tenant(&format!("ingest-{i:02}")).await);
    }
    let mut tables = Vec::new();
    for t in &tenants {
        let record = served
            .state
            .backend
            .registry
            .get_tenant(&t.id)
            .await
            .expect("tenant");
        tables.push(record.resources.events_table.clone());
    }
    let connections: Vec<Request> = tenants
        .iter()
        .flat_map(|t| vec![batch_request(t, v7); INGEST_CONNECTIONS_PER_TENANT])
        .collect();
    // A short warm-up, then the outbox folded before the timed window.
    closed_loop(served.addr, &connections, Duration::from_secs(1), accepted).await;
    let t0 = Instant::now();
    while outbox_left(&served.state.backend, &tables, true).await > 0 && t0.elapsed() < DRAIN_CAP {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let load = closed_loop(served.addr, &connections, window, accepted).await;
    let ended = Instant::now();
    let left = outbox_left(&served.state.backend, &tables, false).await;
    let counted = ended.elapsed();
    let mut drained = None;
    while ended.elapsed() < DRAIN_CAP {
        if outbox_left(&served.state.backend, &tables, true).await == 0 {
            drained = Some(ended.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rate = load.unit_rate();
    println!(
        "ingest: {rate:.0} events/s ({:.0} batches/s of {BATCH}, {} tenants × {} connections), p50 {} p99 {} ({}, {} errors); outbox: {left} records left at the end (counted in {}), drained {}",
        load.rate(),
        INGEST_TENANTS,
        INGEST_CONNECTIONS_PER_TENANT,
        us(load.pct(50.0)),
        us(load.pct(99.0)),
        statuses(&load),
        load.errors,
        us(counted),
        drained.map_or_else(
            || format!("not within {} s", DRAIN_CAP.as_secs()),
            |d| format!("{:.1} s after", d.as_secs_f64())
        ),
    );
    let processed = load.units as f64 - left as f64;
    vec![
        row(
            &format!(
                "event ingest, {BATCH}-event batches, {INGEST_TENANTS} tenants × {INGEST_CONNECTIONS_PER_TENANT} connections, durable, processor on"
            ),
            "≥ 100,000 events/s",
            format!(
                "{rate:.0} events/s ({:.0} batches/s; batch p50 {} p99 {})",
                load.rate(),
                us(load.pct(50.0)),
                us(load.pct(99.0))
            ),
            Some(rate >= 100_000.0),
        ),
        row(
            "outbox processor lag",
            "—",
            format!(
                "{left} of {} records left at the end (folded {:.0}/s during the window); drained {}",
                load.units,
                processed / window.as_secs_f64(),
                drained.map_or_else(
                    || format!("not within {} s", DRAIN_CAP.as_secs()),
                    |d| format!("{:.1} s later", d.as_secs_f64())
                ),
            ),
            None,
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// 4. Resolution

async fn resolution(root: &tempfile::TempDir) -> Vec<Row> {
    // Each registry write is its own transaction, committed with `synchronous=FULL`: one
    // fsync each (3 ms on this disk), so 200,000 of them take minutes on disk. Seeded on
    // tmpfs where there is one; resolution reads the registry only.
    let shm = Path::new("/dev/shm");
    let dir: PathBuf = if shm.is_dir() {
        tempfile::tempdir_in(shm).expect("tmpfs directory").keep()
    } else {
        root.path().join("registry")
    };
    let settings = DataPlaneSettings::for_data_dir(&dir);
    let backend = tenancy::open(&settings.backend).await.expect("backend");
    let pepper = SecretString::from(PEPPER);
    let prefix = TablePrefix::default();
    let t0 = Instant::now();
    let mut seeders = Vec::new();
    for task in 0..SEED_TASKS {
        let backend = backend.clone();
        let hasher = service::secrets::key_hasher(&pepper);
        let prefix = prefix.clone();
        seeders.push(tokio::spawn(async move {
            let mut keys = Vec::new();
            let now = OffsetDateTime::now_utc();
            for i in (task..REGISTRY_TENANTS).step_by(SEED_TASKS) {
                let id = TenantId::parse(&format!("r-{i:06}")).expect("id");
                let mut record = TenantRecord::new(
                    id.clone(),
                    TenantName::parse("Seeded").expect("name"),
                    OwnerEmail::parse("ops@example.com").expect("email"),
                    Tier::Standard,
                    vec![tenancy::Origin::parse(ORIGIN).expect("origin")],
                    ResourceNames::for_tenant(&prefix, &id),
                    now,
                );
                record.status = TenantStatus::Active;
                let entry = JournalEntry {
                    tenant: id.clone(),
                    run_id: uuid::Uuid::new_v4(),
                    step: "seeded".to_owned(),
                    phase: JournalPhase::Done,
                    detail: "seeded by the load test".to_owned(),
                    at: now,
                };
                backend
                    .registry
                    .create_tenant(&record, &entry)
                    .await
                    .expect("tenant");
                let issued = api_key::issue(&hasher, &id, ApiKeyKind::Publishable, now, None);
                backend
                    .registry
                    .put_api_key(&issued.record)
                    .await
                    .expect("key");
                keys.push(issued.key.expose().to_owned());
            }
            keys
        }));
    }
    let mut keys = Vec::with_capacity(REGISTRY_TENANTS);
    for seeder in seeders {
        keys.extend(seeder.await.expect("seeder"));
    }
    let seeded = t0.elapsed();
    println!(
        "resolution: seeded {REGISTRY_TENANTS} tenants and keys in {:.1} s ({:.0}/s, {SEED_TASKS} tasks, {})",
        seeded.as_secs_f64(),
        REGISTRY_TENANTS as f64 / seeded.as_secs_f64(),
        dir.display()
    );
    // A fixed shuffle, so lookups do not follow insertion order.
    let mut order: Vec<usize> = (0..keys.len()).collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let resolver = Resolver::new(
        backend.registry.clone(),
        service::secrets::key_hasher(&pepper),
        CacheLimits {
            ttl: Duration::from_secs(300),
            capacity: std::num::NonZeroUsize::new(2 * REGISTRY_TENANTS).expect("capacity"),
            unknown_ttl: Duration::from_secs(300),
            unknown_capacity: std::num::NonZeroUsize::new(10_000).expect("capacity"),
        },
    );
    let now = OffsetDateTime::now_utc();
    let mut first = Vec::with_capacity(keys.len());
    let t0 = Instant::now();
    for &i in &order {
        let t = Instant::now();
        resolver
            .resolve(&keys[i], now, t)
            .await
            .expect("first lookup");
        first.push(t.elapsed().as_nanos() as u64);
    }
    let uncached_total = t0.elapsed();
    first.sort_unstable();
    let mut cached = Vec::with_capacity(CACHED_LOOKUPS);
    let clock = Instant::now();
    let t0 = Instant::now();
    for n in 0..CACHED_LOOKUPS {
        let key = &keys[order[n % order.len()]];
        let t = Instant::now();
        let resolved = resolver.resolve(key, now, clock).await;
        cached.push(t.elapsed().as_nanos() as u64);
        debug_assert!(resolved.is_ok());
    }
    let cached_mean = t0.elapsed() / CACHED_LOOKUPS as u32;
    cached.sort_unstable();
    let hot = &keys[order[0]];
    let t0 = Instant::now();
    for _ in 0..CACHED_LOOKUPS {
        std::hint::black_box(resolver.resolve(hot, now, clock).await.is_ok());
    }
    let hot_mean = t0.elapsed() / CACHED_LOOKUPS as u32;
    let ns = |d: Duration| format!("{} ns", d.as_nanos());
    println!(
        "resolution: first lookups p50 {} p99 {} (mean {}); cached over all {REGISTRY_TENANTS} keys p50 {} p99 {} (mean {} with the timer); one hot key mean {}",
        us(pct(&first, 50.0)),
        us(pct(&first, 99.0)),
        us(uncached_total / REGISTRY_TENANTS as u32),
        ns(pct(&cached, 50.0)),
        ns(pct(&cached, 99.0)),
        ns(cached_mean),
        ns(hot_mean),
    );
    let _ = std::fs::remove_dir_all(&dir);
    let p50 = pct(&cached, 50.0);
    vec![
        row(
            &format!("registry seeding, {REGISTRY_TENANTS} tenants + keys through the port"),
            "—",
            format!(
                "{:.1} s ({:.0} tenants/s, {SEED_TASKS} tasks, tmpfs)",
                seeded.as_secs_f64(),
                REGISTRY_TENANTS as f64 / seeded.as_secs_f64()
            ),
            None,
        ),
        row(
            "cached resolution (`Resolver::resolve`), keys of all 100k tenants in turn",
            "p50 ≤ 1 µs",
            format!(
                "p50 {} p99 {}; one hot key {}",
                ns(p50),
                ns(pct(&cached, 99.0)),
                ns(hot_mean)
            ),
            Some(p50 <= Duration::from_micros(1)),
        ),
        row(
            "uncached resolution (first lookup of each of the 100k keys)",
            "—",
            format!(
                "p50 {} p99 {}",
                us(pct(&first, 50.0)),
                us(pct(&first, 99.0))
            ),
            None,
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// 5. Noisy neighbour

async fn neighbours(served: &Served, window: Duration) -> Vec<Row> {
    let a = served.tenant("noisy-a").await;
    let b = served.tenant("steady-b").await;
    let b_request = get(CONTENT_PATH, &b.publishable);
    // Warm both tenants' caches.
    steady(
        served.addr,
        b_request.clone(),
        STEADY_RATE,
        Duration::from_secs(1),
    )
    .join()
    .expect("warm-up");
    let quiet = steady(served.addr, b_request.clone(), STEADY_RATE, window)
        .join()
        .expect("quiet run");
    // A bucket refilled, then A floods while B keeps its pace.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let b_run = steady(served.addr, b_request, STEADY_RATE, window);
    let flood = vec![Request::Fixed(get(CONTENT_PATH, &a.publishable)); FLOOD_CONNECTIONS];
    let a_load = closed_loop(served.addr, &flood, window, one_per_200).await;
    let loud = b_run.join().expect("run beside the flood");
    let limited = a_load.statuses.get(&429).copied().unwrap_or(0);
    let ratio = loud.pct(99.0).as_secs_f64() / quiet.pct(99.0).as_secs_f64();
    println!(
        "neighbours: B alone p50 {} p99 {} ({}); beside A p50 {} p99 {} ({}); A {:.0} req/s ({})",
        us(quiet.pct(50.0)),
        us(quiet.pct(99.0)),
        statuses(&quiet),
        us(loud.pct(50.0)),
        us(loud.pct(99.0)),
        statuses(&loud),
        a_load.rate(),
        statuses(&a_load),
    );
    vec![row(
        &format!(
            "noisy neighbour: B at {STEADY_RATE} req/s, A flooding over {FLOOD_CONNECTIONS} connections, limit {TENANT_RATE}/s"
        ),
        "B p99 ≤ 1.2 × quiet p99",
        format!(
            "B p99 {} alone, {} beside A ({ratio:.2} ×); A {:.0} req/s, {} × 200, {limited} × 429",
            us(quiet.pct(99.0)),
            us(loud.pct(99.0)),
            a_load.rate(),
            a_load.statuses.get(&200).copied().unwrap_or(0),
        ),
        Some(ratio <= 1.2),
    )]
}

// ---------------------------------------------------------------------------------------
// 6. Cold start and size

fn healthy(addr: SocketAddr) -> bool {
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_nodelay(true);
    if stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer.starts_with(b"HTTP/1.1 200")
}

fn start_once(bin: &Path, data_dir: &Path) -> Duration {
    let (addr, listener) = listener();
    drop(listener);
    let t0 = Instant::now();
    let mut child = Command::new(bin)
        .env_clear()
        .env("SPOTLIGHT_DATA_DIR", data_dir)
        .env("SPOTLIGHT_DATA_PLANE_ADDR", addr.to_string())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("data-plane binary");
    let took = loop {
        if healthy(addr) {
            break t0.elapsed();
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the data plane exited at start: {status}");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no /healthz answer in 30 s"
        );
        std::thread::sleep(Duration::from_micros(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    took
}

fn cold_start(root: &Path) -> Vec<Row> {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_data-plane"));
    let data_dir = root.join("cold");
    std::fs::create_dir_all(&data_dir).expect("data directory");
    // The first start creates the data directory's files; the timed ones open them.
    let first = start_once(&bin, &data_dir);
    let mut runs: Vec<Duration> = (0..COLD_STARTS)
        .map(|_| start_once(&bin, &data_dir))
        .collect();
    runs.sort();
    let median = runs[runs.len() / 2];
    let size = std::fs::metadata(&bin).map_or(0, |m| m.len());
    let stripped_path = root.join("data-plane-stripped");
    std::fs::copy(&bin, &stripped_path).expect("copy of the binary");
    let stripped = Command::new("strip")
        .arg(&stripped_path)
        .status()
        .ok()
        .filter(|s| s.success())
        .and_then(|_| std::fs::metadata(&stripped_path).ok())
        .map(|m| m.len());
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "cold start: first (fresh data directory) {}, then median of {COLD_STARTS} {} (min {}, max {}); binary {size} B, stripped {}",
        us(first),
        us(median),
        us(runs[0]),
        us(runs[runs.len() - 1]),
        stripped.map_or("(strip failed)".to_owned(), |s| format!("{s} B")),
    );
    vec![
        row(
            "cold start of `data-plane` (spawn → first 200 on `/healthz`), prepared data directory",
            "≤ 15 ms",
            format!(
                "median {} of {COLD_STARTS} (min {}, max {})",
                us(median),
                us(runs[0]),
                us(runs[runs.len() - 1])
            ),
            Some(median <= Duration::from_millis(15)),
        ),
        row(
            "release binary size",
            "—",
            match stripped {
                Some(s) => format!("{s} B ({:.1} MiB) stripped; {size} B unstripped", mib(s)),
                None => format!("{size} B ({:.1} MiB) unstripped; strip failed", mib(size)),
            },
            None,
        ),
    ]
}
