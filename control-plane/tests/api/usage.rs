//! `GET /tenants/{id}/usage`: the model usage the data plane recorded in the registry, per day
//! and model and in total; one tenant's report never shows another's; JSON errors.

use reqwest::StatusCode;
use tenancy::TenantId;
use tenancy::ports::UsageDelta;
use time::{Date, Month, OffsetDateTime};

use crate::helpers::{TestApp, assert_error, json_of};

fn nov(d: u8) -> Date {
    Date::from_calendar_date(2026, Month::November, d).unwrap()
}

async fn record(app: &TestApp, tenant: &str, day: Date, model: &str, calls: u64, tokens: u64) {
    app.state
        .registry()
        .record_usage(
            &TenantId::parse(tenant).unwrap(),
            day,
            model,
            &UsageDelta {
                calls,
                input_tokens: tokens,
                output_tokens: tokens / 10,
                cost_nano_usd: tokens * 1_000,
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_tenants_usage_is_reported_per_day_and_model_and_in_total_and_only_its_own() {
    let app = TestApp::spawn().await;
    app.onboard("tenant-a").await;
    app.onboard("tenant-b").await;
    record(&app, "tenant-a", nov(2), "small", 2, 1_000).await;
    record(&app, "tenant-a", nov(2), "small", 1, 500).await;
    record(&app, "tenant-a", nov(3), "big", 1, 2_000).await;
    record(&app, "tenant-a", nov(30), "small", 1, 10).await;
    record(&app, "tenant-b", nov(2), "small", 7, 7_000).await;

    let (status, a) = json_of(
        app.get("/tenants/tenant-a/usage?from=2026-11-01&to=2026-11-29")
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{a}");
    assert_eq!(
        (a["from"].as_str(), a["to"].as_str()),
        (Some("2026-11-01"), Some("2026-11-29"))
    );
    let days: Vec<(&str, &str, u64, u64)> = a["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["day"].as_str().unwrap(),
                d["model"].as_str().unwrap(),
                d["calls"].as_u64().unwrap(),
                d["input_tokens"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        days,
        [
            ("2026-11-02", "small", 3, 1_500),
            ("2026-11-03", "big", 1, 2_000)
        ]
    );
    assert_eq!(a["total"]["calls"], 4);
    assert_eq!(a["total"]["input_tokens"], 3_500);
    assert_eq!(a["total"]["output_tokens"], 350);
    assert_eq!(a["total"]["cost_usd"], 0.0035);
    assert!(!a.to_string().contains("tenant-b"), "{a}");

    let (_, b) = json_of(
        app.get("/tenants/tenant-b/usage?from=2026-11-01&to=2026-11-30")
            .await,
    )
    .await;
    assert_eq!(b["total"]["calls"], 7, "{b}");

    // By default: this month so far.
    let (status, now) = json_of(app.get("/tenants/tenant-a/usage").await).await;
    assert_eq!(status, StatusCode::OK);
    let today = OffsetDateTime::now_utc().date();
    assert_eq!(now["to"], today.to_string());
    assert_eq!(now["from"], today.replace_day(1).unwrap().to_string());
}

#[tokio::test]
async fn bad_ranges_and_unknown_tenants_get_json_errors() {
    let app = TestApp::spawn().await;
    app.onboard("tenant-a").await;
    for query in [
        "from=2026-11-31",
        "to=yesterday",
        "from=2026-11-10&to=2026-11-01",
        "from=2025-01-01&to=2026-11-01",
        "since=2026-11-01",
    ] {
        assert_error(
            app.get(&format!("/tenants/tenant-a/usage?{query}")).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
    }
    assert_error(
        app.get("/tenants/nobody/usage").await,
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;
}
