//! The outbox processor killed mid-batch: a real `data-plane process-outbox` process is
//! SIGKILLed several times while it folds, then run to the end; every aggregate must equal one
//! fold over the unique events sent.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use data_plane::content::model::{ContentId, StepId};
use data_plane::events::batch::{Event, EventType};
use data_plane::events::fold::{Actor, Counts, Folded, fold};
use data_plane::events::ingest::OUTBOX_SHARDS;
use data_plane::events::process::{read_counts, row_key};
use reqwest::Method;
use serde_json::Value;
use tenancy::ports::{ItemStore, Query};
use tenancy::table_plan::keys;

use crate::helpers::{Backend, TestApp, batch, event, on_both_backends, step_ids, tour};

/// Outbox records left in `events_table`.
pub async fn outbox_len(items: &dyn ItemStore, events_table: &str) -> usize {
    let mut total = 0;
    for shard in 0..OUTBOX_SHARDS {
        let mut query = Query {
            pk: keys::outbox(shard),
            limit: 1000,
            ..Query::default()
        };
        loop {
            let page = items.query(events_table, &query).await.unwrap();
            total += page.items.len();
            match page.next {
                Some(next) => query.start_after = Some(next),
                None => break,
            }
        }
    }
    total
}

/// The event the data plane stores for a JSON event this test sent.
fn as_event(sent: &Value) -> (Event, Actor) {
    let at = time::OffsetDateTime::parse(
        sent["ts"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let kind: EventType = serde_json::from_value(sent["type"].clone()).unwrap();
    let event = Event {
        event_id: sent["event_id"].as_str().unwrap().parse().unwrap(),
        kind,
        content_id: ContentId::parse(sent["content_id"].as_str().unwrap()).unwrap(),
        content_version: 1,
        step_id: Some(StepId::parse(sent["step_id"].as_str().unwrap()).unwrap()),
        at,
        anonymous_id: None,
        props: serde_json::Map::new(),
    };
    (
        event,
        Actor::Anonymous(sent["anonymous_id"].as_str().unwrap().to_owned()),
    )
}

async fn a_processor_killed_mid_batch_and_restarted_counts_every_event_exactly_once(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let acme = app.tenant("acme").await;
    let published = app.publish(&acme.secret, tour()).await;
    let (id, steps) = (published["id"].as_str().unwrap(), step_ids(&published));
    let kinds = [
        "impression",
        "tour_step",
        "target_missing",
        "click",
        "dismiss",
    ];
    let mut sent = Vec::new();
    for i in 0..3000 {
        let user = format!("visitor-{}", i % 37);
        let step = &steps[i % steps.len()];
        sent.push(event(kinds[i % kinds.len()], id, step, &user));
    }
    for chunk in sent.chunks(500) {
        // Each chunk twice: the second delivery must change nothing.
        for _ in 0..2 {
            let response = app
                .with_key(Method::POST, "/v1/sdk/events", &acme.secret)
                .json(&batch(chunk.to_vec()))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
    }
    let names = app.resources(&acme.id).await;
    let items = app.state.backend.items.clone();
    assert_eq!(
        outbox_len(items.as_ref(), &names.events_table).await,
        sent.len()
    );

    let binary = env!("CARGO_BIN_EXE_data-plane");
    let spawn = || {
        Command::new(binary)
            .arg("process-outbox")
            .envs(app.process_env())
            .env("SPOTLIGHT_OUTBOX_POLL_MS", "10")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // Kill the processor as soon as it has folded something, while records are left; up to
    // three times. At least one kill must land mid-run, or the test proves nothing.
    let mut interrupted = 0;
    let mut left = sent.len();
    for _ in 0..3 {
        let mut child = spawn();
        for _ in 0..5000 {
            if outbox_len(items.as_ref(), &names.events_table).await < left {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let now_left = outbox_len(items.as_ref(), &names.events_table).await;
        assert!(
            now_left < left,
            "the processor folded nothing before it was killed"
        );
        if now_left > 0 {
            interrupted += 1;
        }
        left = now_left;
        if left == 0 {
            break;
        }
    }
    assert!(
        interrupted > 0,
        "no kill landed before the end: the run was never interrupted"
    );
    let last = Command::new(binary)
        .args(["process-outbox", "--once"])
        .envs(app.process_env())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&last.stderr);
    assert!(last.status.success(), "{said}");
    assert_eq!(
        outbox_len(items.as_ref(), &names.events_table).await,
        0,
        "the last run left records: {said}"
    );

    // One fold over the unique events, as if nothing had ever stopped.
    let unique: Vec<(Event, Actor)> = sent.iter().map(as_event).collect();
    let expected = fold(
        unique.iter().map(|(event, actor)| Folded {
            event,
            actor: Some(actor),
        }),
        |_| false,
    );
    let mut stored: BTreeMap<_, Counts> = BTreeMap::new();
    for row in expected.rows.keys() {
        let item = items
            .get(&names.app_table, &row_key(row))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no row for {row:?}"));
        stored.insert(row.clone(), read_counts(&item).unwrap());
    }
    assert_eq!(stored, expected.rows);
    let all_rows = items
        .query(
            &names.app_table,
            &Query {
                pk: keys::aggregate(id, 1),
                limit: 1000,
                ..Query::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        all_rows.items.len(),
        expected.rows.len(),
        "no row beyond the fold's"
    );
}

on_both_backends!(a_processor_killed_mid_batch_and_restarted_counts_every_event_exactly_once,);
