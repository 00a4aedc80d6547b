//! `GET /v1/admin/analytics/interactions`: a tenant's raw events newest first, paged by an
//! opaque cursor, within a time window and optionally for one content item; only ever the
//! key's tenant's.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::helpers::{Backend, TestApp, batch, event, on_both_backends, tour};

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap()
}

/// Sends one impression of `content` per entry of `ages` (how long ago it happened), by
/// anonymous user `u{i}`; returns the events' ids, newest first.
async fn send(
    app: &TestApp,
    key: &str,
    content: &str,
    step: &str,
    ages: &[Duration],
) -> Vec<String> {
    let now = OffsetDateTime::now_utc();
    let mut sent: Vec<(OffsetDateTime, String)> = Vec::new();
    let events: Vec<Value> = ages
        .iter()
        .enumerate()
        .map(|(i, age)| {
            let mut e = event("impression", content, step, &format!("u{i}"));
            e["ts"] = json!(rfc3339(now - *age));
            sent.push((now - *age, e["event_id"].as_str().unwrap().to_owned()));
            e
        })
        .collect();
    let response = app
        .with_key(Method::POST, "/v1/sdk/events", key)
        .json(&batch(events))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["accepted"], ages.len(), "{body}");
    sent.sort_by_key(|s| std::cmp::Reverse(s.0));
    sent.into_iter().map(|(_, id)| id).collect()
}

/// Every page of the view under `query` (without a cursor), as event ids in order, and the
/// number of pages.
async fn read_all(app: &TestApp, key: &str, query: &str) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("/v1/admin/analytics/interactions?{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let response = app.with_key(Method::GET, &path, key).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let page: Value = response.json().await.unwrap();
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            ids.push(item["event_id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (ids, pages),
        }
        assert!(pages < 100, "the cursor makes no progress");
    }
}

/// A time as a query value: UTC times have a `Z`, no `+` to encode.
fn encode(raw: &str) -> String {
    assert!(raw.ends_with('Z'), "{raw}");
    raw.to_owned()
}

async fn pages_walk_every_event_once_newest_first_across_days(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let a = app.tenant("tenant-a").await;
    let tour_a = app.publish(&a.secret, tour()).await;
    let other = app.publish(&a.secret, tour()).await;
    let (tour_id, other_id) = (
        tour_a["id"].as_str().unwrap(),
        other["id"].as_str().unwrap(),
    );
    let step = crate::helpers::step_ids(&tour_a)[0].clone();
    let other_step = crate::helpers::step_ids(&other)[0].clone();
    // 23 events of the tour over the last 30 hours (so over two or three UTC days), and 7 of
    // the other item among them.
    let ages: Vec<Duration> = (0..23).map(|i| Duration::minutes(5 + i * 78)).collect();
    let tour_ids = send(&app, &a.secret, tour_id, &step, &ages).await;
    let other_ages: Vec<Duration> = (0..7).map(|i| Duration::minutes(40 + i * 60)).collect();
    let other_ids = send(&app, &a.secret, other_id, &other_step, &other_ages).await;

    let from = encode(&rfc3339(OffsetDateTime::now_utc() - Duration::hours(31)));
    let (all, pages) = read_all(&app, &a.secret, &format!("from={from}&limit=7")).await;
    assert_eq!(all.len(), 30, "every event once");
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 30, "none twice");
    assert_eq!(pages, 5, "7, 7, 7, 7 and the last 2");
    assert!(other_ids.iter().all(|id| all.contains(id)));
    // Newest first: the tour's own events keep their order within the whole.
    let tour_order: Vec<&String> = all.iter().filter(|id| tour_ids.contains(id)).collect();
    assert_eq!(tour_order, tour_ids.iter().collect::<Vec<_>>());

    let (only_tour, pages) = read_all(
        &app,
        &a.secret,
        &format!("from={from}&limit=7&content_id={tour_id}"),
    )
    .await;
    assert_eq!(only_tour, tour_ids, "the content filter, in order");
    assert_eq!(pages, 4, "7, 7, 7 and the last 2");

    // The default window is the last 24 hours.
    let (recent, _) = read_all(&app, &a.secret, "limit=1000").await;
    let within = ages.iter().filter(|a| **a < Duration::hours(24)).count()
        + other_ages
            .iter()
            .filter(|a| **a < Duration::hours(24))
            .count();
    assert_eq!(recent.len(), within);

    // One page shows what the SDK sent.
    let first: Value = app
        .with_key(
            Method::GET,
            &format!("/v1/admin/analytics/interactions?limit=1&content_id={tour_id}"),
            &a.secret,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let item = &first["items"][0];
    assert_eq!(item["event_id"], json!(tour_ids[0]));
    assert_eq!(item["type"], "impression");
    assert_eq!(item["content_version"], 1);
    assert_eq!(item["step_id"], json!(step));
    assert_eq!(item["user"], json!({"kind": "anonymous", "id": "u0"}));
}

async fn another_tenants_key_sees_none_of_its_events_even_with_its_cursor(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let a = app.tenant("tenant-a").await;
    let b = app.tenant("tenant-b").await;
    let tour_a = app.publish(&a.secret, tour()).await;
    let step = crate::helpers::step_ids(&tour_a)[0].clone();
    let ages: Vec<Duration> = (0..3).map(|i| Duration::minutes(1 + i)).collect();
    send(
        &app,
        &a.secret,
        tour_a["id"].as_str().unwrap(),
        &step,
        &ages,
    )
    .await;

    let page_a: Value = app
        .with_key(
            Method::GET,
            "/v1/admin/analytics/interactions?limit=1",
            &a.secret,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cursor = page_a["next_cursor"].as_str().unwrap();
    for path in [
        "/v1/admin/analytics/interactions".to_owned(),
        format!("/v1/admin/analytics/interactions?cursor={cursor}"),
        format!(
            "/v1/admin/analytics/interactions?content_id={}",
            tour_a["id"].as_str().unwrap()
        ),
        "/v1/admin/analytics/interactions?tenant_id=tenant-a".to_owned(),
    ] {
        let response = app
            .with_key(Method::GET, &path, &b.secret)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        if path.contains("tenant_id") {
            assert_eq!(status, 400, "an unknown parameter is refused, not followed");
        } else {
            assert_eq!(status, 200, "{path}: {body}");
            assert_eq!(body["items"], json!([]), "{path}: B sees nothing of A");
        }
    }
    // A publishable key without an admin token reads nothing.
    let refused = app
        .with_key(
            Method::GET,
            "/v1/admin/analytics/interactions",
            &a.publishable,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
}

async fn bad_windows_limits_and_cursors_are_refused_with_what_is_wrong(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let a = app.tenant("tenant-a").await;
    let now = OffsetDateTime::now_utc();
    let long_ago = encode(&rfc3339(now - Duration::days(40)));
    let later = encode(&rfc3339(now + Duration::hours(1)));
    let earlier = encode(&rfc3339(now - Duration::hours(1)));
    let foreign_cursor = {
        use base64::Engine;
        let old = (now - Duration::days(3)).unix_timestamp_nanos();
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{old:020}#{}", uuid::Uuid::new_v4()))
    };
    for (query, why) in [
        ("limit=0".to_owned(), "limit"),
        ("limit=1001".to_owned(), "limit"),
        ("from=yesterday".to_owned(), "from"),
        (format!("from={later}&to={earlier}"), "from must be"),
        (format!("from={long_ago}"), "31 days"),
        ("cursor=not-a-cursor".to_owned(), "cursor"),
        ("cursor=".to_owned(), "cursor"),
        (format!("cursor={foreign_cursor}"), "outside"),
        ("content_id=has%20space".to_owned(), "content_id"),
    ] {
        let response = app
            .with_key(
                Method::GET,
                &format!("/v1/admin/analytics/interactions?{query}"),
                &a.secret,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_request", "{query}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(why), "{query}: {message}");
    }
}

on_both_backends!(
    pages_walk_every_event_once_newest_first_across_days,
    another_tenants_key_sees_none_of_its_events_even_with_its_cursor,
    bad_windows_limits_and_cursors_are_refused_with_what_is_wrong,
);
