//! Crashes under idempotent onboarding: the real binary is killed (SIGKILL) at random points
//! of `POST /tenants?wait=true` with an `Idempotency-Key`, restarted on the same data
//! directory, and the same request retried. The retry must get that request's outcome — the
//! tenant it created — within the claim lease, never `tenant_exists` for its own tenant.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{Binary, tenant_body};

const TOKEN: &str = "crash-test-operator-token";
const LEASE: Duration = Duration::from_secs(1);
/// Onboardings killed, each at its own point.
const CRASHES: u64 = 10;

/// The control plane binary on the data directory, with a short claim lease.
fn start(dir: &std::path::Path) -> Binary {
    let lease = LEASE.as_secs().to_string();
    Binary::start(
        dir,
        &[
            ("SPOTLIGHT_OPERATOR_TOKEN", TOKEN),
            ("SPOTLIGHT_IDEMPOTENCY_LEASE_SECS", &lease),
            ("RUST_LOG", "error"),
        ],
    )
}

/// The points to kill at, spread over an onboarding (about 10 ms on the embedded backend) and
/// a little past it: a fixed-seed xorshift, so a failure can be replayed.
fn kill_points() -> Vec<Duration> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..CRASHES)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Duration::from_micros(x % 30_000)
        })
        .collect()
}

async fn onboard(
    client: &reqwest::Client,
    base: &str,
    id: &str,
) -> reqwest::Result<reqwest::Response> {
    client
        .post(format!("{base}/tenants?wait=true"))
        .bearer_auth(TOKEN)
        .header("Idempotency-Key", format!("onboard-{id}"))
        .json(&tenant_body(id))
        .send()
        .await
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_onboarding_killed_at_random_points_and_retried_with_its_key_gets_its_tenant_back() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let mut server = start(dir.path());
    // Kills that left the tenant created but its answer unstored: the case the retry must
    // recognise as its own.
    let mut recognised = 0;
    for (i, point) in kill_points().into_iter().enumerate() {
        let id = format!("crashed-{i}");
        let first = tokio::spawn({
            let (client, base, id) = (client.clone(), server.base.clone(), id.clone());
            async move { onboard(&client, &base, &id).await }
        });
        tokio::time::sleep(point).await;
        server.kill();
        let _ = first.await;

        server = start(dir.path());
        let existed = client
            .get(format!("{}/tenants/{id}", server.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status()
            == StatusCode::OK;
        let retrying_since = Instant::now();
        let (status, body) = loop {
            let response = onboard(&client, &server.base, &id).await.unwrap();
            let status = response.status();
            let replayed = response.headers().contains_key("idempotent-replayed");
            if existed && !replayed && status != StatusCode::CONFLICT {
                recognised += 1;
            }
            let body: serde_json::Value = response.json().await.unwrap();
            if status == StatusCode::CONFLICT && body["error"]["code"] == "idempotency_key_in_use" {
                // The dead process's claim, until its lease runs out.
                assert!(
                    retrying_since.elapsed() < LEASE * 4,
                    "killed after {point:?}: the claim outlived its lease: {body}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            break (status, body);
        };
        assert!(
            status == StatusCode::CREATED || status == StatusCode::ACCEPTED,
            "killed after {point:?}: the retry got {status} {body}"
        );
        assert_eq!(body["id"], id.as_str(), "killed after {point:?}: {body}");

        // And the tenant does become active, with one of each resource.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let tenant: serde_json::Value = client
                .get(format!("{}/tenants/{id}", server.base))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if tenant["status"] == "active" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "killed after {point:?}: tenant never became active: {tenant}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    server.kill();
    assert!(
        recognised > 0,
        "no kill landed between the tenant's creation and its stored answer; the test proved nothing"
    );
}
