//! Property tests over the served router: random and malformed event batches and content
//! bodies never get a 5xx or a dropped connection, every 4xx is the JSON error body, and
//! nothing is half-stored — the outbox holds exactly the events the answers said were accepted.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, event, now, on_both_backends, step_ids, tour};
use crate::outbox::outbox_len;

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A batch body: random bytes, any JSON, or a batch of good events with some fields replaced
/// by anything, some ids repeated.
fn body(content: String, steps: Vec<String>) -> impl Strategy<Value = (Vec<u8>, &'static str)> {
    let content_type = prop_oneof![Just("application/json"), Just("text/plain")];
    let mutated = proptest::collection::vec(
        (
            0usize..6,
            any_json(),
            proptest::sample::select(vec![
                "event_id",
                "type",
                "content_id",
                "content_version",
                "step_id",
                "ts",
                "props",
                "none",
            ]),
            any::<bool>(),
        ),
        0..30,
    )
    .prop_map(move |picks| {
        let mut events: Vec<Value> = Vec::new();
        for (kind, junk, field, repeat) in picks {
            let kinds = [
                "impression",
                "click",
                "tour_step",
                "dismiss",
                "target_missing",
                "survey_answer",
            ];
            let mut e = event(
                kinds[kind],
                &content,
                &steps[kind % steps.len()],
                "fuzz-user",
            );
            if field != "none" {
                e[field] = junk;
            }
            if repeat && let Some(last) = events.last() {
                e["event_id"] = last["event_id"].clone();
            }
            events.push(e);
        }
        serde_json::to_vec(&json!({"sent_at": now(), "events": events})).unwrap()
    });
    let raw = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        any_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        mutated,
    ];
    (raw, content_type)
}

fn random_and_malformed_batches_get_answers_and_nothing_is_half_stored(kind: Backend) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (app, key, content, steps, names) = rt.block_on(async {
        let app = TestApp::spawn_on(kind).await;
        let acme = app.tenant("acme").await;
        let published = app.publish(&acme.secret, tour()).await;
        let content = published["id"].as_str().unwrap().to_owned();
        let steps = step_ids(&published);
        let names = app.resources(&acme.id).await;
        (app, acme.secret, content, steps, names)
    });
    let accepted = std::cell::Cell::new(0u64);
    let mut runner = TestRunner::new(Config {
        cases: 96,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&body(content, steps), |(bytes, content_type)| {
            let (status, answer) = rt.block_on(async {
                let response = app
                    .with_key(Method::POST, "/v1/sdk/events", &key)
                    .header("content-type", content_type)
                    .body(bytes.clone())
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.unwrap())
            });
            prop_assert!([200, 400, 413].contains(&status), "{status}: {answer}");
            if status == 200 {
                let n = answer["accepted"].as_u64().unwrap();
                let rejected = answer["rejected"].as_array().unwrap().len() as u64;
                let duplicates = answer["duplicates"].as_u64().unwrap();
                accepted.set(accepted.get() + n);
                let sent = serde_json::from_slice::<Value>(&bytes).unwrap()["events"]
                    .as_array()
                    .map_or(0, Vec::len) as u64;
                prop_assert_eq!(n + rejected + duplicates, sent, "every event accounted for");
            } else {
                prop_assert!(answer["error"]["code"].is_string(), "{}", answer);
            }
            Ok(())
        })
        .unwrap();
    let stored = rt.block_on(outbox_len(
        app.state.backend.items.as_ref(),
        &names.events_table,
    ));
    assert_eq!(
        stored as u64,
        accepted.get(),
        "the outbox holds exactly what was acknowledged"
    );
}

fn random_content_bodies_are_created_or_refused_with_the_error_body_never_a_5xx(kind: Backend) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (app, key) = rt.block_on(async {
        let app = TestApp::spawn_on(kind).await;
        let acme = app.tenant("acme").await;
        (app, acme.secret)
    });
    let created = std::cell::Cell::new(0usize);
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = prop_oneof![
        any_json(),
        (
            any_json(),
            proptest::sample::select(vec!["kind", "name", "targeting", "steps", "repeat"])
        )
            .prop_map(|(junk, field)| {
                let mut body = tour();
                body[field] = junk;
                body
            }),
    ];
    runner
        .run(&strategy, |body| {
            let status = rt.block_on(async {
                let response = app
                    .with_key(Method::POST, "/v1/admin/content", &key)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let answer: Value = response.json().await.unwrap();
                if status != 201 {
                    assert!(answer["error"]["code"].is_string(), "{answer}");
                }
                status
            });
            prop_assert!([201, 400].contains(&status), "{status}");
            if status == 201 {
                created.set(created.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    let listed: Value = rt.block_on(async {
        app.with_key(Method::GET, "/v1/admin/content", &key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        created.get(),
        "no half-created content"
    );
}

on_both_backends!(
    blocking: random_and_malformed_batches_get_answers_and_nothing_is_half_stored,
    random_content_bodies_are_created_or_refused_with_the_error_body_never_a_5xx,
);
