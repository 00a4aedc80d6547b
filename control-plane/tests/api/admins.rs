//! Tenant admins over HTTP: invite, list, remove, mint a token; refusals with their JSON
//! errors; admins of one tenant are invisible and unremovable through another's paths.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, json_of};

/// `POST /tenants/{tenant}/admins` for `email`; asserts 201 and returns the body.
async fn invite(app: &TestApp, tenant: &str, email: &str) -> Value {
    let (status, body) = json_of(
        app.post(
            &format!("/tenants/{tenant}/admins"),
            &json!({ "email": email }),
        )
        .await,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "inviting {email} to {tenant}: {body}"
    );
    body
}

/// `GET /tenants/{tenant}/admins`; asserts 200 and returns the e-mails listed.
async fn emails(app: &TestApp, tenant: &str) -> Vec<String> {
    let (status, body) = json_of(app.get(&format!("/tenants/{tenant}/admins")).await).await;
    assert_eq!(status, StatusCode::OK, "listing admins of {tenant}: {body}");
    body["admins"]
        .as_array()
        .expect("admins array")
        .iter()
        .map(|a| a["email"].as_str().expect("email").to_owned())
        .collect()
}

#[tokio::test]
async fn an_invited_admin_is_listed_gets_a_token_that_verifies_and_is_removed() {
    let app = TestApp::spawn().await;
    app.onboard("acme").await;
    let ann = invite(&app, "acme", "Ann@Acme.example.com").await;
    assert_eq!(ann["email"], "ann@acme.example.com", "{ann}");
    assert_eq!(ann["tenant"], "acme");
    let admin_id = ann["admin_id"].as_str().expect("admin_id").to_owned();
    invite(&app, "acme", "bob@acme.example.com").await;
    assert_eq!(
        emails(&app, "acme").await,
        ["ann@acme.example.com", "bob@acme.example.com"]
    );

    let response = app
        .post_empty("/tenants/acme/admins/ann@acme.example.com/token")
        .await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let (status, minted) = json_of(response).await;
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    let token = minted["token"].as_str().expect("token");
    let identity = &app.state.provisioner.backend().identity;
    let verified = identity
        .verify_token(token)
        .await
        .expect("the token verifies");
    assert_eq!(verified.tenant.as_str(), "acme");
    assert_eq!(verified.subject.as_str(), admin_id);

    let (status, removed) = json_of(
        app.delete(&format!("/tenants/acme/admins/{admin_id}"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert_eq!(removed["email"], "ann@acme.example.com");
    assert_eq!(emails(&app, "acme").await, ["bob@acme.example.com"]);
    let refused = identity.verify_token(token).await;
    assert_eq!(
        refused.map(drop).unwrap_err().kind(),
        tenancy::ErrorKind::AccessDenied,
        "a removed admin's token is refused"
    );
    assert_error(
        app.post_empty(&format!("/tenants/acme/admins/{admin_id}/token"))
            .await,
        StatusCode::NOT_FOUND,
        "admin_not_found",
    )
    .await;
}

#[tokio::test]
async fn invitations_are_refused_with_a_json_error_before_anything_is_written() {
    let app = TestApp::spawn().await;
    app.onboard("acme").await;
    let body = assert_error(
        app.post("/tenants/acme/admins", &json!({ "email": "not an email" }))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_eq!(body["details"]["field"], "email", "{body}");
    assert_error(
        app.post(
            "/tenants/nobody/admins",
            &json!({ "email": "a@example.com" }),
        )
        .await,
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;
    assert_error(
        app.post("/tenants/acme/admins", &json!({ "mail": "a@example.com" }))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;

    invite(&app, "acme", "ann@example.com").await;
    assert_error(
        app.post(
            "/tenants/acme/admins",
            &json!({ "email": "ANN@example.com" }),
        )
        .await,
        StatusCode::CONFLICT,
        "admin_exists",
    )
    .await;

    let (status, suspended) = json_of(app.post_empty("/tenants/acme/suspend").await).await;
    assert_eq!(status, StatusCode::OK, "{suspended}");
    let body = assert_error(
        app.post(
            "/tenants/acme/admins",
            &json!({ "email": "bob@example.com" }),
        )
        .await,
        StatusCode::CONFLICT,
        "tenant_not_active",
    )
    .await;
    assert_eq!(body["details"]["status"], "suspended", "{body}");
    assert_error(
        app.post_empty("/tenants/acme/admins/ann@example.com/token")
            .await,
        StatusCode::CONFLICT,
        "tenant_not_active",
    )
    .await;
    assert_eq!(emails(&app, "acme").await, ["ann@example.com"]);
    assert_error(
        app.delete("/tenants/acme/admins/not%20an%20id").await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn admins_of_one_tenant_are_invisible_and_unremovable_through_another() {
    let app = TestApp::spawn().await;
    app.onboard("tenant-a").await;
    app.onboard("tenant-b").await;
    let ann = invite(&app, "tenant-a", "ann@a.example.com").await;
    let ann_id = ann["admin_id"].as_str().unwrap();
    assert_eq!(emails(&app, "tenant-b").await, Vec::<String>::new());

    for admin in ["ann@a.example.com", ann_id] {
        assert_error(
            app.delete(&format!("/tenants/tenant-b/admins/{admin}"))
                .await,
            StatusCode::NOT_FOUND,
            "admin_not_found",
        )
        .await;
        assert_error(
            app.post_empty(&format!("/tenants/tenant-b/admins/{admin}/token"))
                .await,
            StatusCode::NOT_FOUND,
            "admin_not_found",
        )
        .await;
    }
    // An address administers one tenant: B cannot take A's admin over.
    assert_error(
        app.post(
            "/tenants/tenant-b/admins",
            &json!({ "email": "ann@a.example.com" }),
        )
        .await,
        StatusCode::CONFLICT,
        "admin_exists",
    )
    .await;
    assert_eq!(emails(&app, "tenant-a").await, ["ann@a.example.com"]);
    assert_eq!(emails(&app, "tenant-b").await, Vec::<String>::new());
}
