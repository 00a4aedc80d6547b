//! Content domain events: a content item created, published and archived over HTTP reaches
//! the event sink (the embedded event log, read back as any local consumer would) once per
//! change, in order, naming its tenant — only once the outbox processor ran, and never again
//! on a second run; one tenant's events never show in another's view; a change whose
//! publication failed, or never ran, stays in the outbox until it is published.

use std::sync::Arc;

use data_plane::events::runner::{self, Drained};
use reqwest::Method;
use serde_json::Value;
use tenancy::embedded::EventLog;
use tenancy::ports::{DomainEvent, ItemStore, Query};
use tenancy::table_plan::keys;
use tenancy::{ErrorKind, TenantId};

use crate::helpers::{TestApp, error_code, tour};

/// What the event log holds for `tenant`.
async fn published(app: &TestApp, tenant: &TenantId) -> Vec<DomainEvent> {
    let log = EventLog::open(app.state.settings.data_dir()).unwrap();
    log.published(tenant).await.unwrap()
}

/// Domain events waiting in `tenant`'s outbox.
async fn waiting(app: &TestApp, tenant: &TenantId) -> usize {
    let names = app.resources(tenant).await;
    let query = Query {
        pk: keys::DOMAIN_OUTBOX.to_owned(),
        limit: 1000,
        ..Query::default()
    };
    let items: &dyn ItemStore = app.state.backend.items.as_ref();
    let page = items.query(&names.events_table, &query).await.unwrap();
    page.items.len()
}

/// POSTs `path` with `key` and `If-Match: "{revision}"`, expecting 200.
async fn change(app: &TestApp, key: &str, path: &str, revision: u64) -> Value {
    let response = app
        .with_key(Method::POST, path, key)
        .header("if-match", format!("\"{revision}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

/// Creates a tour with `key`, publishes it and archives it; returns its id.
async fn create_publish_archive(app: &TestApp, key: &str) -> String {
    let created = app
        .with_key(Method::POST, "/v1/admin/content", key)
        .json(&tour())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let draft: Value = created.json().await.unwrap();
    let id = draft["id"].as_str().unwrap().to_owned();
    let published = change(app, key, &format!("/v1/admin/content/{id}/publish"), 1).await;
    assert_eq!(published["version"], 1);
    let archived = change(app, key, &format!("/v1/admin/content/{id}/archive"), 2).await;
    assert_eq!(archived["status"], "archived");
    id
}

#[tokio::test]
async fn created_published_and_archived_content_reaches_the_sink_once_each_in_order() {
    let app = TestApp::spawn().await;
    let acme = app.tenant("acme").await;
    let id = create_publish_archive(&app, &acme.secret).await;
    assert!(
        published(&app, &acme.id).await.is_empty(),
        "published by the outbox processor, not by the request"
    );
    assert_eq!(waiting(&app, &acme.id).await, 3);

    let drained = runner::sweep(&app.state.backend).await.unwrap();
    assert_eq!(
        drained,
        Drained {
            folded: 0,
            published: 3
        }
    );
    let events = published(&app, &acme.id).await;
    let seen: Vec<(&str, &Value, &Value, &Value)> = events
        .iter()
        .map(|e| {
            (
                e.detail_type.as_str(),
                &e.data["content_id"],
                &e.data["version"],
                &e.data["revision"],
            )
        })
        .collect();
    let id = Value::from(id);
    assert_eq!(
        seen,
        [
            ("content.created", &id, &Value::Null, &Value::from(1)),
            ("content.published", &id, &Value::from(1), &Value::from(2)),
            ("content.archived", &id, &Value::from(1), &Value::from(3)),
        ]
    );
    for event in &events {
        assert_eq!(event.tenant, acme.id);
        assert_eq!(event.source.as_str(), "spotlight.content");
    }
    assert!(events.windows(2).all(|w| w[0].at <= w[1].at));
    let ids: std::collections::HashSet<_> = events.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), 3, "a unique id per event");
    assert_eq!(waiting(&app, &acme.id).await, 0);

    // A second run has nothing left to publish.
    let again = runner::sweep(&app.state.backend).await.unwrap();
    assert_eq!(again.published, 0);
    assert_eq!(published(&app, &acme.id).await, events);
}

#[tokio::test]
async fn one_tenants_events_never_show_in_anothers_and_a_refused_change_has_none() {
    let app = TestApp::spawn().await;
    let (acme, beta) = (app.tenant("acme").await, app.tenant("beta").await);
    let acme_content = create_publish_archive(&app, &acme.secret).await;
    let created = app
        .with_key(Method::POST, "/v1/admin/content", &beta.secret)
        .json(&tour())
        .send()
        .await
        .unwrap();
    let beta_draft: Value = created.json().await.unwrap();

    // beta's key on acme's content: not found, and no event for anyone.
    for action in ["publish", "archive"] {
        let response = app
            .with_key(
                Method::POST,
                &format!("/v1/admin/content/{acme_content}/{action}"),
                &beta.secret,
            )
            .header("if-match", "\"3\"")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(error_code(response).await, "content_not_found");
    }
    // A stale publish of beta's own draft: refused, no event either.
    let stale = app
        .with_key(
            Method::POST,
            &format!(
                "/v1/admin/content/{}/publish",
                beta_draft["id"].as_str().unwrap()
            ),
            &beta.secret,
        )
        .header("if-match", "\"7\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);

    runner::sweep(&app.state.backend).await.unwrap();
    let of_acme = published(&app, &acme.id).await;
    let of_beta = published(&app, &beta.id).await;
    assert_eq!(of_acme.len(), 3);
    assert_eq!(of_beta.len(), 1, "beta's one change: its creation");
    assert_eq!(of_beta[0].data["content_id"], beta_draft["id"]);
    assert!(of_beta.iter().all(|e| e.tenant == beta.id));
    assert!(
        of_beta
            .iter()
            .all(|e| e.data["content_id"] != acme_content.as_str()),
        "none of acme's content in beta's view"
    );
}

/// An EventBridge sink nothing answers at: a loopback port just freed.
async fn unreachable_event_bridge() -> tenancy::aws::EventBridgeSink {
    use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = aws_sdk_eventbridge::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .retry_config(RetryConfig::disabled())
        .build();
    tenancy::aws::EventBridgeSink::new(
        aws_sdk_eventbridge::Client::from_conf(config),
        tenancy::aws::EventBusName::default(),
    )
}

#[tokio::test]
async fn changes_whose_publication_failed_or_never_ran_stay_in_the_outbox_until_published() {
    let app = TestApp::spawn().await;
    let acme = app.tenant("acme").await;
    create_publish_archive(&app, &acme.secret).await;

    // The sink cannot be reached: nothing is published, nothing leaves the outbox.
    let down = tenancy::Backend {
        event_sink: Arc::new(unreachable_event_bridge().await),
        ..app.state.backend.clone()
    };
    let names = app.resources(&acme.id).await;
    let err = runner::drain(&down, &acme.id, &names).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert_eq!(runner::sweep(&down).await.unwrap().published, 0);
    assert_eq!(waiting(&app, &acme.id).await, 3);
    assert!(published(&app, &acme.id).await.is_empty());

    // The process dies here; a new one (nothing in memory, no tenant marked) publishes them.
    drop(down);
    let next = app.fresh_state();
    let drained = runner::sweep(&next.backend).await.unwrap();
    assert_eq!(drained.published, 3);
    assert_eq!(published(&app, &acme.id).await.len(), 3);
    assert_eq!(waiting(&app, &acme.id).await, 0);
}
