//! Onboarding, reading, listing and updating tenants; input validation and error bodies.

use provisioner::config::Bounded;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Presence, TestApp, assert_error, json_of, tenant_body};

#[tokio::test]
async fn onboarding_with_wait_returns_201_with_an_active_tenant_and_its_resources() {
    let app = TestApp::spawn().await;
    let response = app.post("/tenants?wait=true", &tenant_body("acme")).await;
    assert_eq!(response.headers()["location"], "/tenants/acme");
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "active");
    assert_eq!(body["tier"], "standard");
    assert_eq!(body["owner_email"], "ops@acme.example.com");
    assert_eq!(
        body["allowed_origins"],
        json!(["https://app.acme.example.com"])
    );
    assert_eq!(
        body["resources"]["names"]["app_table"],
        "spotlight_tenant-acme-app"
    );
    assert_eq!(
        body["resources"]["names"]["events_table"],
        "spotlight_tenant-acme-events"
    );
    assert_eq!(
        body["resources"]["names"]["key_alias"],
        "alias/spotlight_tenant-acme"
    );
    for arn in [
        "key_id",
        "key_arn",
        "app_table_arn",
        "events_table_arn",
        "role_arn",
    ] {
        assert!(
            body["resources"]["arns"][arn]
                .as_str()
                .is_some_and(|a| !a.is_empty()),
            "{arn}: {body}"
        );
    }
    assert!(body["failure"].is_null());
    assert_eq!(app.presence("acme").await, Presence::ALL);

    let detail = app.tenant("acme").await;
    assert_eq!(detail["status"], "active");
    let journal = detail["journal"].as_array().expect("journal");
    assert!(!journal.is_empty() && journal.len() <= 20, "{detail}");
    assert!(journal.iter().all(|e| e["tenant"] == "acme"));
}

#[tokio::test]
async fn onboarding_without_wait_returns_202_with_location_and_becomes_active() {
    let app = TestApp::spawn().await;
    let response = app.post_tenant(&tenant_body("beta")).await;
    assert_eq!(response.headers()["location"], "/tenants/beta");
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["id"], "beta");
    assert_ne!(body["status"], "failed");

    let active = app.wait_for_status("beta", &["active", "failed"]).await;
    assert_eq!(active["status"], "active", "{active}");
    assert_eq!(app.presence("beta").await, Presence::ALL);
}

#[tokio::test]
async fn a_taken_id_is_409_tenant_exists_even_after_offboarding() {
    let app = TestApp::spawn().await;
    app.onboard("dup").await;
    assert_error(
        app.post_tenant(&tenant_body("dup")).await,
        StatusCode::CONFLICT,
        "tenant_exists",
    )
    .await;

    let (status, _) = json_of(app.delete("/tenants/dup").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        app.post_tenant(&tenant_body("dup")).await,
        StatusCode::CONFLICT,
        "tenant_exists",
    )
    .await;
}

#[tokio::test]
async fn bad_tenant_ids_are_400_before_any_side_effect() {
    let app = TestApp::spawn().await;
    let too_long = "a".repeat(41);
    for bad in [
        "",
        too_long.as_str(),
        "Acme",
        "acmé",
        "../x",
        "a--b",
        "ab",
        "-ab",
        "a_b",
    ] {
        let error = assert_error(
            app.post_tenant(&tenant_body(bad)).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert_eq!(error["details"]["field"], "id", "{bad:?}: {error}");
    }
    assert!(app.tenant_ids().await.is_empty());
    let tables = app
        .state
        .provisioner
        .backend()
        .tables
        .list_tables("")
        .await
        .unwrap();
    assert!(tables.is_empty(), "{tables:?}");
    for fragment in [
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "Acme",
        "acm",
        "a--b",
        "a_b",
    ] {
        assert!(
            app.files_mentioning(fragment).is_empty(),
            "{fragment}: {:?}",
            app.files_mentioning(fragment)
        );
    }
}

#[tokio::test]
async fn every_invalid_field_is_a_400_naming_the_field() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            json!({"id": "ok-id", "name": "", "owner_email": "a@b.io"}),
            "name",
        ),
        (
            json!({"id": "ok-id", "name": "N", "owner_email": "not-an-email"}),
            "owner_email",
        ),
        (
            json!({"id": "ok-id", "name": "N", "owner_email": "a@b.io", "allowed_origins": ["ftp://x.io"]}),
            "allowed_origins",
        ),
        (json!({"id": "ok-id", "owner_email": "a@b.io"}), "name"),
        (json!({"name": "N", "owner_email": "a@b.io"}), "id"),
        (json!({"id": "ok-id", "name": "N"}), "owner_email"),
    ];
    for (body, field) in cases {
        let error = assert_error(
            app.post_tenant(&body).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert_eq!(error["details"]["field"], field, "{body}: {error}");
    }
    assert!(app.tenant_ids().await.is_empty());
}

#[tokio::test]
async fn origins_are_stored_once_each_in_the_form_browsers_send() {
    let app = TestApp::spawn().await;
    let mut body = tenant_body("origins");
    body["allowed_origins"] = json!([
        "https://app.example.com",
        "https://APP.example.com:443/",
        "http://app.example.com:80",
        "https://xn--bcher-kva.example",
        "https://[::1]:8443",
    ]);
    let (status, tenant) = json_of(app.post_tenant(&body).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{tenant}");
    assert_eq!(
        tenant["allowed_origins"],
        json!([
            "https://app.example.com",
            "http://app.example.com",
            "https://xn--bcher-kva.example",
            "https://[::1]:8443",
        ])
    );
}

#[tokio::test]
async fn lookalike_values_are_a_400_that_names_the_field_and_the_problem() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            "allowed_origins",
            json!(["https://x.com:0443"]),
            "leading zero",
        ),
        ("allowed_origins", json!(["https://x..com"]), "empty label"),
        ("owner_email", json!("<script>@x.co"), "'<'"),
        ("owner_email", json!("a@-x-.co"), "starts or ends with '-'"),
        ("name", json!("invoice\u{202E}fdp.exe"), "bidirectional"),
        (
            "allowed_origins",
            json!(["https://bücher.example"]),
            "ASCII form, as browsers send it: https://xn--bcher-kva.example",
        ),
    ];
    for (field, value, problem) in cases {
        let mut body = tenant_body("lookalike");
        body[field] = value;
        let error = assert_error(
            app.post_tenant(&body).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert_eq!(error["details"]["field"], field, "{error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(problem), "{field}: {message}");
    }
    assert!(app.tenant_ids().await.is_empty());
}

#[tokio::test]
async fn malformed_json_unknown_fields_and_wrong_types_get_the_json_error_body() {
    let app = TestApp::spawn().await;
    let send = |body: &'static str| {
        app.request(reqwest::Method::POST, "/tenants")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_error(
        send("{\"id\": \"acme\",").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    assert_error(
        send("not json at all").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    let unknown = r#"{"id":"acme","name":"A","owner_email":"a@b.io","status":"active"}"#;
    assert_error(
        send(unknown).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    let wrong_type = r#"{"id":42,"name":"A","owner_email":"a@b.io"}"#;
    assert_error(
        send(wrong_type).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    let bad_tier = r#"{"id":"acme","name":"A","owner_email":"a@b.io","tier":"platinum"}"#;
    assert_error(
        send(bad_tier).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    assert!(app.tenant_ids().await.is_empty());
}

#[tokio::test]
async fn a_body_without_json_content_type_is_a_json_415() {
    let app = TestApp::spawn().await;
    let body = serde_json::to_string(&tenant_body("acme")).unwrap();
    for content_type in [None, Some("text/plain")] {
        let mut request = app
            .request(reqwest::Method::POST, "/tenants")
            .body(body.clone());
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.unwrap();
        assert_error(
            response,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
    }
    assert!(app.tenant_ids().await.is_empty());
}

#[tokio::test]
async fn an_oversized_body_is_a_json_413() {
    let app = TestApp::spawn_with(|s| s.max_body_bytes = Bounded::must(1024)).await;
    let mut body = tenant_body("big");
    body["name"] = json!("n".repeat(2000));
    assert_error(
        app.post_tenant(&body).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    let keyed = app.with_idempotency_key("big-1", "/tenants", &body).await;
    assert_error(keyed, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert!(app.tenant_ids().await.is_empty());
    // Just under the limit is served.
    body["name"] = json!("n".repeat(200));
    let (status, view) = json_of(app.post_tenant(&body).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{view}");
}

#[tokio::test]
async fn unknown_paths_are_json_404_and_wrong_methods_json_405() {
    let app = TestApp::spawn().await;
    assert_error(app.get("/nope").await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(
        app.get("/tenants/acme/nope").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let put = app
        .request(reqwest::Method::PUT, "/tenants")
        .send()
        .await
        .unwrap();
    assert_error(put, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    assert_error(
        app.post_empty("/healthz").await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_tenant_is_404_tenant_not_found_on_every_tenant_route() {
    let app = TestApp::spawn().await;
    assert_error(
        app.get("/tenants/ghost").await,
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;
    assert_error(
        app.patch("/tenants/ghost", &json!({"name": "X"})).await,
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;
    assert_error(
        app.delete("/tenants/ghost").await,
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;
    for action in ["suspend", "resume", "retry"] {
        let response = app.post_empty(&format!("/tenants/ghost/{action}")).await;
        assert_error(response, StatusCode::NOT_FOUND, "tenant_not_found").await;
    }
    assert!(
        app.tenant_ids().await.is_empty(),
        "a 404 must not create anything"
    );
}

#[tokio::test]
async fn a_bad_id_in_a_path_is_400_on_every_tenant_route() {
    let app = TestApp::spawn().await;
    for bad in ["Acme", "a--b", "ab", "x%2F..%2Fy", "acm%C3%A9"] {
        let checks = [
            app.get(&format!("/tenants/{bad}")).await,
            app.patch(&format!("/tenants/{bad}"), &json!({"name": "X"}))
                .await,
            app.delete(&format!("/tenants/{bad}")).await,
            app.post_empty(&format!("/tenants/{bad}/suspend")).await,
            app.post_empty(&format!("/tenants/{bad}/resume")).await,
            app.post_empty(&format!("/tenants/{bad}/retry")).await,
        ];
        for response in checks {
            let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
            assert_eq!(error["details"]["field"], "id", "{bad}: {error}");
        }
    }
}

#[tokio::test]
async fn listing_pages_through_tenants_in_id_order_and_filters_by_status() {
    let app = TestApp::spawn().await;
    for id in ["list-c", "list-a", "list-b"] {
        app.onboard(id).await;
    }
    app.post_empty("/tenants/list-b/suspend").await;

    let (status, first) = json_of(app.get("/tenants?limit=2").await).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let ids: Vec<&str> = first["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["list-a", "list-b"]);
    let next = first["next"].as_str().expect("a next cursor");
    let (_, second) = json_of(app.get(&format!("/tenants?limit=2&after={next}")).await).await;
    let ids: Vec<&str> = second["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["list-c"]);
    assert!(second["next"].is_null(), "{second}");

    let (_, suspended) = json_of(app.get("/tenants?status=suspended").await).await;
    let ids: Vec<&str> = suspended["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["list-b"]);
}

#[tokio::test]
async fn invalid_list_parameters_are_400_naming_the_parameter() {
    let app = TestApp::spawn().await;
    for (query, field) in [
        ("status=sleeping", "status"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("after=Not_An_Id", "after"),
    ] {
        let error = assert_error(
            app.get(&format!("/tenants?{query}")).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert_eq!(error["details"]["field"], field, "{query}: {error}");
    }
}

#[tokio::test]
async fn patch_changes_name_email_and_origins_and_bumps_the_version() {
    let app = TestApp::spawn().await;
    let before = app.onboard("patchy").await;
    let (status, after) = json_of(
        app.patch(
            "/tenants/patchy",
            &json!({"name": "  Patchy Inc  ", "owner_email": "Boss@Patchy.IO", "allowed_origins": ["HTTPS://Patchy.io", "https://patchy.io"]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["name"], "Patchy Inc");
    assert_eq!(after["owner_email"], "Boss@patchy.io");
    assert_eq!(after["allowed_origins"], json!(["https://patchy.io"]));
    assert!(
        after["version"].as_u64() > before["version"].as_u64(),
        "{before} -> {after}"
    );
    assert_eq!(after["status"], "active");
    assert_eq!(app.tenant("patchy").await["name"], "Patchy Inc");

    // Only the given fields change.
    let (_, renamed) = json_of(app.patch("/tenants/patchy", &json!({"name": "P2"})).await).await;
    assert_eq!(renamed["owner_email"], "Boss@patchy.io");
    assert_eq!(renamed["name"], "P2");
}

#[tokio::test]
async fn patch_refuses_unknown_fields_invalid_values_and_deleted_tenants() {
    let app = TestApp::spawn().await;
    let original = app.onboard("strict").await;
    assert_error(
        app.patch("/tenants/strict", &json!({"tier": "enterprise"}))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    assert_error(
        app.patch("/tenants/strict", &json!({"status": "active"}))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    let error = assert_error(
        app.patch(
            "/tenants/strict",
            &json!({"name": "ok", "owner_email": "nope"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_eq!(error["details"]["field"], "owner_email");
    let unchanged = app.tenant("strict").await;
    assert_eq!(
        unchanged["name"], original["name"],
        "a refused patch must change nothing"
    );
    assert_eq!(unchanged["version"], original["version"]);

    app.delete("/tenants/strict").await;
    assert_error(
        app.patch("/tenants/strict", &json!({"name": "Back"})).await,
        StatusCode::CONFLICT,
        "tenant_offboarded",
    )
    .await;
}

#[tokio::test]
async fn a_wait_that_runs_out_returns_202_and_provisioning_carries_on() {
    // A zero wait ends before any run can (a run takes several durable writes).
    let app = TestApp::spawn_with(|s| s.wait_timeout_secs = Bounded::must(0)).await;
    let response = app
        .post("/tenants?wait=true", &tenant_body("patient"))
        .await;
    assert_eq!(response.headers()["location"], "/tenants/patient");
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let tenant = app.wait_for_status("patient", &["active", "failed"]).await;
    assert_eq!(tenant["status"], "active", "{tenant}");
}

#[tokio::test]
async fn an_invalid_wait_parameter_is_400_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let error = assert_error(
        app.post("/tenants?wait=maybe", &tenant_body("unsure"))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_eq!(error["details"]["field"], "wait");
    assert!(app.tenant_ids().await.is_empty());
}

#[tokio::test]
async fn unknown_query_parameters_are_400_and_change_nothing() {
    let app = TestApp::spawn().await;
    let response = app.post("/tenants?wiat=true", &tenant_body("typo")).await;
    let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(
        error["message"].as_str().unwrap().contains("wiat"),
        "{error}"
    );
    assert!(app.tenant_ids().await.is_empty());
    assert_error(
        app.get("/tenants?stauts=active").await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    app.onboard("typo").await;
    assert_error(
        app.post_empty("/tenants/typo/retry?wiat=1").await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn a_delete_that_outlasts_the_wait_is_202_with_location_and_offboarding_carries_on() {
    // A zero wait ends before offboarding can (it takes several durable writes).
    let app = TestApp::spawn_with(|s| s.wait_timeout_secs = Bounded::must(0)).await;
    let (status, created) = json_of(app.post_tenant(&tenant_body("slowgone")).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    app.wait_for_status("slowgone", &["active"]).await;

    let response = app.delete("/tenants/slowgone").await;
    assert_eq!(response.headers()["location"], "/tenants/slowgone");
    let (status, view) = json_of(response).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{view}");
    assert_eq!(view["status"], "deprovisioning", "{view}");

    let gone = app.wait_for_status("slowgone", &["deleted"]).await;
    assert_eq!(gone["status"], "deleted");
    assert_eq!(
        app.presence("slowgone").await,
        crate::helpers::Presence::NONE
    );
}
