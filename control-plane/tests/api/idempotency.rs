//! `Idempotency-Key` on POSTs: replay, reuse with another body, concurrent use.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, assert_error, json_of, tenant_body};

#[tokio::test]
async fn the_same_key_and_body_replay_the_first_response_and_create_one_tenant() {
    let app = TestApp::spawn().await;
    let first = app
        .with_idempotency_key("key-1", "/tenants", &tenant_body("once"))
        .await;
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_location = first.headers()["location"].clone();
    let (first_status, first_body) = json_of(first).await;
    assert_eq!(first_status, StatusCode::ACCEPTED, "{first_body}");

    // Same body, keys in another order: the same request.
    let reordered = json!({
        "allowed_origins": ["https://app.once.example.com"],
        "owner_email": "ops@once.example.com",
        "name": "Tenant once",
        "id": "once",
    });
    let second = app
        .with_idempotency_key("key-1", "/tenants", &reordered)
        .await;
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(second.headers()["location"], first_location);
    let (second_status, second_body) = json_of(second).await;
    assert_eq!(second_status, first_status);
    assert_eq!(second_body, first_body);
    assert_eq!(app.tenant_ids().await, ["once"]);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_422() {
    let app = TestApp::spawn().await;
    let (status, _) = json_of(
        app.with_idempotency_key("key-2", "/tenants", &tenant_body("first"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let reused = app
        .with_idempotency_key("key-2", "/tenants", &tenant_body("second"))
        .await;
    assert_error(
        reused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )
    .await;
    // Another path with the same key is another request too.
    let elsewhere = app
        .with_idempotency_key("key-2", "/tenants?wait=true", &tenant_body("first"))
        .await;
    assert_error(
        elsewhere,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(app.tenant_ids().await, ["first"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_requests_with_one_key_execute_once() {
    let app = TestApp::spawn().await;
    let body = tenant_body("racy");
    let (a, b) = tokio::join!(
        app.with_idempotency_key("key-3", "/tenants?wait=true", &body),
        app.with_idempotency_key("key-3", "/tenants?wait=true", &body),
    );
    let replayed = |r: &reqwest::Response| r.headers().get("idempotent-replayed").is_some();
    let (ra, rb) = (replayed(&a), replayed(&b));
    let ((sa, ba), (sb, bb)) = (json_of(a).await, json_of(b).await);
    let mut executed = 0;
    for (status, body, was_replayed) in [(sa, &ba, ra), (sb, &bb, rb)] {
        if status == StatusCode::CONFLICT {
            assert_eq!(body["error"]["code"], "idempotency_key_in_use", "{body}");
        } else if was_replayed {
            assert_eq!(status, StatusCode::CREATED, "{body}");
        } else {
            assert_eq!(status, StatusCode::CREATED, "{body}");
            executed += 1;
        }
    }
    assert_eq!(executed, 1, "{sa} {ba} / {sb} {bb}");
    assert_eq!(app.tenant_ids().await, ["racy"]);
}

#[tokio::test]
async fn a_key_claimed_by_a_request_still_running_is_409_in_use_and_executes_nothing() {
    let app = TestApp::spawn().await;
    let body = tenant_body("held-key");
    // The claim the first of two concurrent requests holds while it runs, taken directly so
    // the second request certainly finds it in progress rather than completed.
    let fingerprint = control_plane::idempotency::fingerprint(
        &axum::http::Method::POST,
        "/tenants",
        None,
        &serde_json::to_vec(&body).unwrap(),
    );
    let now = time::OffsetDateTime::now_utc();
    let claim = app
        .state
        .registry()
        .claim_idempotency_key(
            "control-plane:key-held",
            &fingerprint,
            now,
            now + time::Duration::DAY,
            time::Duration::HOUR,
        )
        .await
        .unwrap();
    assert!(
        matches!(claim, tenancy::IdempotencyClaim::Claimed { .. }),
        "{claim:?}"
    );

    let second = app
        .with_idempotency_key("key-held", "/tenants", &body)
        .await;
    assert_error(second, StatusCode::CONFLICT, "idempotency_key_in_use").await;
    assert!(app.tenant_ids().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_keys_racing_for_one_id_give_one_success_and_one_409() {
    let app = TestApp::spawn().await;
    let body = tenant_body("contested");
    let (a, b) = tokio::join!(
        app.with_idempotency_key("key-a", "/tenants", &body),
        app.with_idempotency_key("key-b", "/tenants", &body),
    );
    let ((sa, ba), (sb, bb)) = (json_of(a).await, json_of(b).await);
    let mut statuses = [sa, sb];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::ACCEPTED, StatusCode::CONFLICT],
        "{ba} / {bb}"
    );
    let loser = if sa == StatusCode::CONFLICT { ba } else { bb };
    assert_eq!(loser["error"]["code"], "tenant_exists");
    assert_eq!(app.tenant_ids().await, ["contested"]);
}

#[tokio::test]
async fn a_refusal_is_replayed_too() {
    let app = TestApp::spawn().await;
    app.onboard("taken").await;
    let first = app
        .with_idempotency_key("key-4", "/tenants", &tenant_body("taken"))
        .await;
    assert_error(first, StatusCode::CONFLICT, "tenant_exists").await;
    let again = app
        .with_idempotency_key("key-4", "/tenants", &tenant_body("taken"))
        .await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_error(again, StatusCode::CONFLICT, "tenant_exists").await;
}

#[tokio::test]
async fn transitions_honour_the_key_as_well() {
    let app = TestApp::spawn().await;
    app.onboard("keyed").await;
    let first = app
        .with_idempotency_key("key-5", "/tenants/keyed/suspend", &json!({}))
        .await;
    let (status, body) = json_of(first).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Without the key the second suspend would be an illegal transition; with it, a replay.
    let again = app
        .with_idempotency_key("key-5", "/tenants/keyed/suspend", &json!({}))
        .await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let (again_status, again_body) = json_of(again).await;
    assert_eq!((again_status, again_body), (status, body));
}

#[tokio::test]
async fn a_replay_keeps_the_no_store_of_a_response_that_shows_a_secret() {
    let app = TestApp::spawn().await;
    app.onboard("secretive").await;
    let body = json!({"kind": "secret"});
    let first = app
        .with_idempotency_key("key-6", "/tenants/secretive/api-keys", &body)
        .await;
    assert_eq!(first.headers()["cache-control"], "no-store");
    let again = app
        .with_idempotency_key("key-6", "/tenants/secretive/api-keys", &body)
        .await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn malformed_keys_are_400_and_execute_nothing() {
    let app = TestApp::spawn().await;
    let too_long = "k".repeat(256);
    for bad in [too_long.as_str(), "has space", "tab\tin"] {
        let response = app
            .with_idempotency_key(bad, "/tenants", &tenant_body("nokey"))
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_idempotency_key").await;
    }
    let empty = app
        .request(reqwest::Method::POST, "/tenants")
        .header("Idempotency-Key", "")
        .json(&tenant_body("nokey"))
        .send()
        .await
        .unwrap();
    assert_error(empty, StatusCode::BAD_REQUEST, "invalid_idempotency_key").await;
    assert!(app.tenant_ids().await.is_empty());
    let longest = "k".repeat(255);
    let (status, _) = json_of(
        app.with_idempotency_key(&longest, "/tenants", &tenant_body("nokey"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

/// `POST path` with a key and raw `body` bytes, and `content_type` if any.
async fn post_raw(
    app: &TestApp,
    key: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> reqwest::Response {
    let mut request = app
        .request(reqwest::Method::POST, path)
        .header("Idempotency-Key", key);
    if let Some(ct) = content_type {
        request = request.header("Content-Type", ct);
    }
    request.body(body.to_vec()).send().await.unwrap()
}

#[tokio::test]
async fn requests_rejected_before_their_first_write_store_nothing_and_the_corrected_retry_runs() {
    let app = TestApp::spawn().await;
    let body = serde_json::to_vec(&tenant_body("fixed")).unwrap();
    // 415: the body is right but its content type is missing. The fingerprint ignores the
    // header, so a stored 415 would be replayed to the corrected request forever.
    let missing_type = post_raw(&app, "k-415", "/tenants", None, &body).await;
    assert_error(
        missing_type,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let corrected = post_raw(&app, "k-415", "/tenants", Some("application/json"), &body).await;
    assert!(corrected.headers().get("idempotent-replayed").is_none());
    assert_eq!(corrected.status(), StatusCode::ACCEPTED);

    // 404: the tenant a transition names does not exist yet; once it does, the same request
    // with the same key suspends it.
    let early = app
        .with_idempotency_key("k-404", "/tenants/later/suspend", &json!({}))
        .await;
    assert_error(early, StatusCode::NOT_FOUND, "tenant_not_found").await;
    let early_key = app
        .with_idempotency_key(
            "k-404-key",
            "/tenants/later/api-keys",
            &json!({"kind": "secret"}),
        )
        .await;
    assert_error(early_key, StatusCode::NOT_FOUND, "tenant_not_found").await;
    app.onboard("later").await;
    let (status, suspended) = json_of(
        app.with_idempotency_key("k-404", "/tenants/later/suspend", &json!({}))
            .await,
    )
    .await;
    assert_eq!(
        (status, suspended["status"].as_str()),
        (StatusCode::OK, Some("suspended"))
    );
    let issued = app
        .with_idempotency_key(
            "k-404-key",
            "/tenants/later/api-keys",
            &json!({"kind": "secret"}),
        )
        .await;
    assert_eq!(issued.status(), StatusCode::CREATED);

    // 400: a validation failure, then the same key and body once the cause is fixed elsewhere
    // would replay; a body that fails validation is simply not stored.
    let invalid = json!({"id": "Not Valid", "name": "x", "owner_email": "a@b.co"});
    let rejected = app
        .with_idempotency_key("k-400", "/tenants", &invalid)
        .await;
    assert_error(rejected, StatusCode::BAD_REQUEST, "invalid_request").await;
    let again = app
        .with_idempotency_key("k-400", "/tenants", &invalid)
        .await;
    assert!(
        again.headers().get("idempotent-replayed").is_none(),
        "not stored"
    );
    assert_error(again, StatusCode::BAD_REQUEST, "invalid_request").await;

    for key in ["k-415", "k-404", "k-400"] {
        let stored = app
            .state
            .registry()
            .claim_idempotency_key(
                &format!("control-plane:{key}"),
                "probe",
                time::OffsetDateTime::now_utc(),
                time::OffsetDateTime::now_utc() + time::Duration::DAY,
                time::Duration::HOUR,
            )
            .await
            .unwrap();
        if key == "k-400" {
            assert!(
                matches!(stored, tenancy::IdempotencyClaim::Claimed { .. }),
                "the rejected request left nothing under {key}: {stored:?}"
            );
        } else {
            assert!(
                matches!(stored, tenancy::IdempotencyClaim::Completed { .. }),
                "the corrected request's result is stored under {key}: {stored:?}"
            );
        }
    }
}

#[tokio::test]
async fn revoking_a_key_purges_the_stored_response_that_shows_its_secret() {
    let app = TestApp::spawn().await;
    app.onboard("purged").await;
    let body = json!({"kind": "secret"});
    let (status, issued) = json_of(
        app.with_idempotency_key("k-secret", "/tenants/purged/api-keys", &body)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let secret = issued["key"].as_str().unwrap().to_owned();
    let (_, replayed) = json_of(
        app.with_idempotency_key("k-secret", "/tenants/purged/api-keys", &body)
            .await,
    )
    .await;
    assert_eq!(
        replayed["key"],
        secret.as_str(),
        "replayed while the key lives"
    );

    let key_id = issued["key_id"].as_str().unwrap();
    let revoked = app
        .delete(&format!("/tenants/purged/api-keys/{key_id}"))
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    let after = app
        .with_idempotency_key("k-secret", "/tenants/purged/api-keys", &body)
        .await;
    let error = assert_error(after, StatusCode::GONE, "idempotent_response_purged").await;
    assert!(!error.to_string().contains(&secret), "{error}");
    let keys = app.get("/tenants/purged/api-keys").await;
    let (_, keys) = json_of(keys).await;
    assert_eq!(
        keys["api_keys"].as_array().unwrap().len(),
        1,
        "the retry issued no second key: {keys}"
    );
    assert!(
        app.files_mentioning(&secret).is_empty(),
        "the secret rests nowhere in the data directory"
    );
}

#[tokio::test]
async fn offboarding_purges_the_stored_responses_that_show_the_tenants_keys() {
    let app = TestApp::spawn().await;
    app.onboard("leaving").await;
    let body = json!({"kind": "publishable"});
    let first = app
        .with_idempotency_key("k-leaving", "/tenants/leaving/api-keys", &body)
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(
        app.delete("/tenants/leaving").await.status(),
        StatusCode::OK
    );
    let after = app
        .with_idempotency_key("k-leaving", "/tenants/leaving/api-keys", &body)
        .await;
    assert_error(after, StatusCode::GONE, "idempotent_response_purged").await;
}

#[tokio::test]
async fn a_key_issued_by_a_request_that_died_unseen_is_revoked_when_the_request_is_retried() {
    let app = TestApp::spawn().await;
    app.onboard("orphaned").await;
    let body = json!({"kind": "secret"});
    let path = "/tenants/orphaned/api-keys";
    // What the dead attempt left: its claim, whose lease ran out (it was made a lease ago and
    // never renewed), and a live key recorded under the request's id, its secret never shown.
    let fingerprint = control_plane::idempotency::fingerprint(
        &axum::http::Method::POST,
        path,
        None,
        &serde_json::to_vec(&body).unwrap(),
    );
    let lease = app.state.settings.idempotency_lease();
    let then = time::OffsetDateTime::now_utc() - lease;
    let claim = app
        .state
        .registry()
        .claim_idempotency_key(
            "control-plane:k-orphan",
            &fingerprint,
            then,
            then + time::Duration::DAY,
            time::Duration::try_from(lease).unwrap(),
        )
        .await
        .unwrap();
    let tenancy::IdempotencyClaim::Claimed { epoch, .. } = claim else {
        panic!("expected a claim, got {claim:?}");
    };
    let request = tenancy::RequestId::of("control-plane:k-orphan", &fingerprint, &epoch);
    let tenant = tenancy::TenantId::parse("orphaned").unwrap();
    let mut orphan = tenancy::api_key::issue(
        &app.state.api_keys,
        &tenant,
        tenancy::ApiKeyKind::Secret,
        time::OffsetDateTime::now_utc(),
        None,
    );
    orphan.record.created_by_request = Some(request.clone());
    app.state
        .registry()
        .put_api_key(&orphan.record)
        .await
        .unwrap();
    // A key of another request of the same tenant is left alone.
    let (_, other) = json_of(app.post(path, &body).await).await;

    let (status, issued) = json_of(app.with_idempotency_key("k-orphan", path, &body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let keys = app.state.registry().list_api_keys(&tenant).await.unwrap();
    let state_of = |key_id: &str| {
        let key = keys.iter().find(|k| k.key_id == key_id).unwrap();
        (key.revoked_at.is_some(), key.created_by_request.clone())
    };
    assert_eq!(
        state_of(&orphan.record.key_id),
        (true, Some(request.clone()))
    );
    assert_eq!(
        state_of(issued["key_id"].as_str().unwrap()),
        (false, Some(request))
    );
    assert_eq!(state_of(other["key_id"].as_str().unwrap()), (false, None));
}

/// Ends the retention of every stored idempotency record, as time would after
/// `SPOTLIGHT_IDEMPOTENCY_TTL_SECS`: written into the embedded registry directly.
fn expire_idempotency_records(app: &TestApp) {
    let db = rusqlite::Connection::open(app.data_dir.join("registry.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    db.execute("UPDATE idempotency SET expires_at = 1", [])
        .unwrap();
}

#[tokio::test]
async fn a_key_reused_after_its_record_expired_is_a_new_request_that_takes_nothing_for_its_own() {
    let app = TestApp::spawn().await;
    app.onboard("reused").await;
    let body = json!({"kind": "secret"});
    let path = "/tenants/reused/api-keys";
    let (_, first) = json_of(app.with_idempotency_key("k-reused", path, &body).await).await;
    let (_, gone) = json_of(
        app.with_idempotency_key("k-onboard", "/tenants", &tenant_body("gone"))
            .await,
    )
    .await;
    assert_eq!(gone["id"], "gone");
    app.wait_for_status("gone", &["active"]).await;
    assert_eq!(app.delete("/tenants/gone").await.status(), StatusCode::OK);

    expire_idempotency_records(&app);
    // The key holder deployed the first key; a later use of the same key must not revoke it.
    let (status, second) = json_of(app.with_idempotency_key("k-reused", path, &body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_ne!(second["key_id"], first["key_id"]);
    let keys = app
        .state
        .registry()
        .list_api_keys(&tenancy::TenantId::parse("reused").unwrap())
        .await
        .unwrap();
    assert!(
        keys.iter().all(|k| k.revoked_at.is_none()),
        "both keys stay live: {keys:#?}"
    );
    // Nor is an offboarded tenant the outcome of a new onboarding under an old key.
    let again = app
        .with_idempotency_key("k-onboard", "/tenants", &tenant_body("gone"))
        .await;
    assert_error(again, StatusCode::CONFLICT, "tenant_exists").await;
}
