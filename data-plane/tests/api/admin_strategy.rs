//! How an admin route decides that a platform token's user administers the key's tenant:
//! `table_lookup` (the tenant's admin records) and `jwt_group` (the token's
//! `cognito:groups`), each refusing what the other would accept.

use data_plane::identity::StrategyKind;
use reqwest::Method;
use tenancy::ports::AdminRef;

use crate::helpers::{Backend, TestApp, error_code, on_both_backends};

/// `GET /v1/admin/content` with tenant `key` (publishable) and `token`: status and code.
async fn attempt(app: &TestApp, key: &str, token: Option<&str>) -> (u16, String) {
    let mut request = app.with_key(Method::GET, "/v1/admin/content", key);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    if status == 200 {
        return (200, String::new());
    }
    (status, error_code(response).await)
}

async fn remove(app: &TestApp, tenant: &tenancy::TenantId, email: &str) {
    app.state
        .backend
        .identity
        .remove_admin(
            tenant,
            &AdminRef::Email(tenancy::ports::AdminEmail::parse(email).unwrap()),
        )
        .await
        .unwrap();
}

async fn table_lookup_admits_the_tenants_admins_and_no_one_removed(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let a = app.tenant("tenant-a").await;
    let ann = app.admin_token(&a.id, "ann@a.example").await;
    assert_eq!(attempt(&app, &a.publishable, Some(&ann)).await.0, 200);

    // In the admin group but not on record: the records decide.
    let gus = app
        .token_in_groups(&a.id, "gus@a.example", &["spotlight-admins"])
        .await;
    remove(&app, &a.id, "gus@a.example").await;
    assert_eq!(
        attempt(&app, &a.publishable, Some(&gus)).await,
        (403, "not_an_admin".to_owned()),
        "a valid token of the tenant whose user is no admin of it"
    );

    remove(&app, &a.id, "ann@a.example").await;
    assert_eq!(
        attempt(&app, &a.publishable, Some(&ann)).await,
        (403, "not_an_admin".to_owned()),
        "a removed admin's token is refused at once"
    );
    assert_eq!(
        attempt(&app, &a.publishable, None).await,
        (401, "unauthorized".to_owned())
    );
    assert_eq!(
        attempt(&app, &a.publishable, Some("not.a.token")).await,
        (401, "unauthorized".to_owned())
    );
}

async fn jwt_group_admits_the_group_and_not_the_records(kind: Backend) {
    let app = TestApp::spawn_with_on(kind, |s| s.admin_strategy = StrategyKind::JwtGroup).await;
    let a = app.tenant("tenant-a").await;
    let b = app.tenant("tenant-b").await;

    // On record but in no group: refused.
    let ann = app.token_in_groups(&a.id, "ann@a.example", &[]).await;
    assert_eq!(
        attempt(&app, &a.publishable, Some(&ann)).await,
        (403, "not_an_admin".to_owned())
    );
    // In another group, or one differing only in case: refused.
    for (email, group) in [
        ("eve@a.example", "auditors"),
        ("ivy@a.example", "Spotlight-Admins"),
    ] {
        let token = app.token_in_groups(&a.id, email, &[group]).await;
        assert_eq!(
            attempt(&app, &a.publishable, Some(&token)).await,
            (403, "not_an_admin".to_owned()),
            "{group}"
        );
    }
    // In the group: admitted, and the group alone decides — its record removed, still in.
    let gus = app
        .token_in_groups(&a.id, "gus@a.example", &["auditors", "spotlight-admins"])
        .await;
    assert_eq!(attempt(&app, &a.publishable, Some(&gus)).await.0, 200);
    remove(&app, &a.id, "gus@a.example").await;
    assert_eq!(
        attempt(&app, &a.publishable, Some(&gus)).await.0,
        200,
        "jwt_group does not consult the records"
    );
    // The group of another tenant's token is no admin of this one.
    let bob = app
        .token_in_groups(&b.id, "bob@b.example", &["spotlight-admins"])
        .await;
    assert_eq!(
        attempt(&app, &a.publishable, Some(&bob)).await,
        (401, "unauthorized".to_owned()),
        "B's admin with A's key"
    );
    assert_eq!(attempt(&app, &b.publishable, Some(&bob)).await.0, 200);
}

async fn jwt_group_requires_the_configured_group(kind: Backend) {
    let app = TestApp::spawn_with_on(kind, |s| {
        s.admin_strategy = StrategyKind::JwtGroup;
        s.admin_group = data_plane::identity::AdminGroup::parse("tour-editors").unwrap();
    })
    .await;
    let a = app.tenant("tenant-a").await;
    let default_group = app
        .token_in_groups(&a.id, "ann@a.example", &["spotlight-admins"])
        .await;
    assert_eq!(
        attempt(&app, &a.publishable, Some(&default_group)).await,
        (403, "not_an_admin".to_owned())
    );
    let editor = app
        .token_in_groups(&a.id, "eve@a.example", &["tour-editors"])
        .await;
    assert_eq!(attempt(&app, &a.publishable, Some(&editor)).await.0, 200);
    // A secret key needs no token under any strategy.
    let served = app
        .with_key(Method::GET, "/v1/admin/content", &a.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
}

on_both_backends!(
    table_lookup_admits_the_tenants_admins_and_no_one_removed,
    jwt_group_admits_the_group_and_not_the_records,
    jwt_group_requires_the_configured_group,
);
