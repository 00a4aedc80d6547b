//! Onboarding latency on the embedded backend: `POST /tenants?wait=true` until `Active`, one
//! tenant at a time, over real HTTP to the real app on 127.0.0.1:0 with a fresh data directory.
//!
//! Run: `cargo bench -p control-plane --bench onboarding` (optionally `-- 500` for more tenants).
//! Prints p50, p90, p99 and max over all tenants; nothing is discarded as warm-up.

use std::time::{Duration, Instant};

use control_plane::{AppState, ControlPlaneSettings};
use secrecy::SecretString;
use serde_json::json;

const TOKEN: &str = "bench-operator-token";

#[tokio::main]
async fn main() {
    let tenants: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().expect("temporary data directory");
    let mut settings = ControlPlaneSettings::for_data_dir(dir.path());
    settings.operator_token = Some(SecretString::from(TOKEN.to_owned()));
    let (state, _secrets) = AppState::from_settings(settings)
        .await
        .expect("control plane state");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("local addr"));
    tokio::spawn(control_plane::serve(
        listener,
        state,
        std::future::pending(),
    ));

    let client = reqwest::Client::new();
    let mut latencies = Vec::with_capacity(tenants);
    let started = Instant::now();
    for i in 0..tenants {
        let body = json!({
            "id": format!("bench-{i:05}"),
            "name": format!("Bench tenant {i}"),
            "owner_email": "ops@bench.example",
            "allowed_origins": ["https://app.bench.example"],
        });
        let t0 = Instant::now();
        let response = client
            .post(format!("{base}/tenants?wait=true"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = response.status();
        let record: serde_json::Value = response.json().await.expect("json body");
        latencies.push(t0.elapsed());
        assert_eq!(
            status.as_u16(),
            201,
            "tenant {i} did not become active: {record}"
        );
        assert_eq!(record["status"], "active");
    }
    let total = started.elapsed();

    latencies.sort();
    let pct = |p: f64| -> Duration {
        let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
        latencies[rank.clamp(1, latencies.len()) - 1]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "onboarding (embedded backend, POST /tenants?wait=true to active), {tenants} tenants, sequential"
    );
    println!(
        "p50 {:.1} ms | p90 {:.1} ms | p99 {:.1} ms | max {:.1} ms | min {:.1} ms | {:.1} tenants/s",
        ms(pct(50.0)),
        ms(pct(90.0)),
        ms(pct(99.0)),
        ms(*latencies.last().expect("at least one tenant")),
        ms(latencies[0]),
        tenants as f64 / total.as_secs_f64(),
    );
}
