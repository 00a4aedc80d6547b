//! `POST /v1/admin/metrics` and `GET /v1/admin/metrics`: a tenant's business metrics, uploaded
//! whole or not at all, read back by subject and period, and only ever the key's tenant's.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, error_code, on_both_backends};

async fn upload(app: &TestApp, key: &str, content_type: &str, body: &str) -> (u16, Value) {
    let response = app
        .with_key(Method::POST, "/v1/admin/metrics", key)
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn values(app: &TestApp, key: &str, query: &str) -> Value {
    let response = app
        .with_key(Method::GET, &format!("/v1/admin/metrics?{query}"), key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn periods_and_values(page: &Value) -> Vec<(String, f64)> {
    page["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["period"].as_str().unwrap().to_owned(),
                v["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

async fn a_csv_and_a_json_upload_read_back_and_a_repeat_replaces(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let a = app.tenant("tenant-a").await;
    let (status, body) = upload(
        &app,
        &a.secret,
        "text/csv; charset=utf-8",
        "subject,period,value,unit\nsignups,2026-10,100,users\nsignups,2026-11,120,users\n",
    )
    .await;
    assert_eq!((status, body["written"].clone()), (200, json!(2)), "{body}");
    let json_rows = json!([
        {"subject": "signups", "period": "2026-Q4", "value": 330, "dimensions": {"plan": "pro"}},
        {"subject": "signups", "period": "2026-11", "value": 125}
    ]);
    let (status, body) = upload(&app, &a.secret, "application/json", &json_rows.to_string()).await;
    assert_eq!((status, body["written"].clone()), (200, json!(2)), "{body}");

    let page = values(&app, &a.secret, "subject=signups&from=2026-10&to=2026-Q4").await;
    assert_eq!(
        periods_and_values(&page),
        [
            ("2026-10".to_owned(), 100.0),
            ("2026-Q4".to_owned(), 330.0),
            ("2026-11".to_owned(), 125.0)
        ],
        "{page}"
    );
    assert_eq!(page["values"][1]["granularity"], "quarter");
    assert_eq!(page["values"][1]["dimensions"]["plan"], "pro");
    assert_eq!(page["values"][0]["unit"], "users");
    assert!(page.get("next").is_none());
}

async fn a_file_with_bad_rows_lists_every_one_and_stores_nothing(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let a = app.tenant("tenant-a").await;
    let (status, body) = upload(
        &app,
        &a.secret,
        "text/csv",
        "subject,period,value\nsignups,2026-10,100\nsignups,2026-13,1\nvisits,2026-10,many\n",
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "metrics_invalid");
    let problems = body["error"]["details"]["problems"].as_array().unwrap();
    let found: Vec<(u64, u64, &str)> = problems
        .iter()
        .map(|p| {
            (
                p["row"].as_u64().unwrap(),
                p["line"].as_u64().unwrap(),
                p["column"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(found, [(2, 3, "period"), (3, 4, "value")], "{body}");
    // The good first row was not stored either.
    let page = values(&app, &a.secret, "subject=signups&from=2026-10").await;
    assert_eq!(page["values"], json!([]), "{page}");
}

async fn limits_and_media_types_are_checked_first(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let a = app.tenant("tenant-a").await;
    let mut csv = String::from("subject,period,value\n");
    for day in 1..=101 {
        csv.push_str(&format!("s{day},2026-10,{day}\n"));
    }
    let (status, body) = upload(&app, &a.secret, "text/csv", &csv).await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("100 rows"),
        "{body}"
    );
    let (status, body) = upload(&app, &a.secret, "text/plain", "subject,period,value\n").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (415, json!("unsupported_media_type"))
    );
    let (status, body) = upload(&app, &a.secret, "application/json", "{\"rows\": 1}").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("invalid_request"))
    );
    for bad in [
        "subject=signups&from=2026-13",
        "subject=signups&from=2026-11&to=2026-10",
        "subject=signups&from=2026-11&limit=0",
        "subject=signups&from=2026-11&after=2026-12",
        "from=2026-11",
    ] {
        let response = app
            .with_key(Method::GET, &format!("/v1/admin/metrics?{bad}"), &a.secret)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }
}

async fn another_tenants_key_sees_none_of_its_metrics_and_a_publishable_key_alone_is_refused(
    kind: Backend,
) {
    let app = TestApp::spawn_on(kind).await;
    let a = app.tenant("tenant-a").await;
    let b = app.tenant("tenant-b").await;
    let (status, _) = upload(
        &app,
        &a.secret,
        "text/csv",
        "subject,period,value\nrevenue,2026-11,5000\n",
    )
    .await;
    assert_eq!(status, 200);
    let seen_by_b = values(&app, &b.secret, "subject=revenue&from=2026-11").await;
    assert_eq!(seen_by_b["values"], json!([]), "{seen_by_b}");
    // A tenant named in the query is not a parameter: refused, not followed.
    let smuggled = app
        .with_key(
            Method::GET,
            &format!(
                "/v1/admin/metrics?subject=revenue&from=2026-11&tenant_id={}",
                a.id
            ),
            &b.secret,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(smuggled.status(), 400);
    // B's upload of the same subject and period leaves A's value alone.
    let (status, _) = upload(
        &app,
        &b.secret,
        "text/csv",
        "subject,period,value\nrevenue,2026-11,1\n",
    )
    .await;
    assert_eq!(status, 200);
    let b_page = values(&app, &b.secret, "subject=revenue&from=2026-11").await;
    assert_eq!(periods_and_values(&b_page), [("2026-11".to_owned(), 1.0)]);
    let a_page = values(&app, &a.secret, "subject=revenue&from=2026-11").await;
    assert_eq!(
        periods_and_values(&a_page),
        [("2026-11".to_owned(), 5000.0)]
    );

    let publishable = app
        .with_key(Method::POST, "/v1/admin/metrics", &a.publishable)
        .header("origin", crate::helpers::ORIGIN)
        .header("content-type", "text/csv")
        .body("subject,period,value\nrevenue,2026-11,1\n")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(publishable).await, "unauthorized");
}

on_both_backends!(
    a_csv_and_a_json_upload_read_back_and_a_repeat_replaces,
    a_file_with_bad_rows_lists_every_one_and_stores_nothing,
    limits_and_media_types_are_checked_first,
    another_tenants_key_sees_none_of_its_metrics_and_a_publishable_key_alone_is_refused,
);
