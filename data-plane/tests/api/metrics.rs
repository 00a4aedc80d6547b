//! `/metrics`: the operator token, requests by route pattern, events by tenant and outcome,
//! resolutions by cache outcome.

use reqwest::Method;

use crate::helpers::{OPERATOR_TOKEN, TestApp, batch, event, step_ids, tour};

#[tokio::test]
async fn metrics_need_the_operator_token_and_count_requests_events_and_resolutions() {
    let app = TestApp::spawn().await;
    let acme = app.tenant("acme").await;
    let published = app.publish(&acme.secret, tour()).await;
    let (id, steps) = (published["id"].as_str().unwrap(), step_ids(&published));
    let one = event("impression", id, &steps[0], "u1");
    let body = batch(vec![
        one.clone(),
        one,
        event("click", "c_nope", &steps[0], "u1"),
    ]);
    let response = app
        .with_key(Method::POST, "/v1/sdk/events", &acme.secret)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    app.with_key(Method::GET, "/v1/admin/content/c_missing", &acme.secret)
        .send()
        .await
        .unwrap();

    for refused in [None, Some("wrong"), Some(acme.secret.as_str())] {
        let mut request = app.request(Method::GET, "/metrics");
        if let Some(token) = refused {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        assert_eq!(request.send().await.unwrap().status(), 401, "{refused:?}");
    }
    let text = app
        .request(Method::GET, "/metrics")
        .header("authorization", format!("Bearer {OPERATOR_TOKEN}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"spotlight_data_plane_events_total{tenant="acme",outcome="accepted"} 1"#,
        r#"spotlight_data_plane_events_total{tenant="acme",outcome="duplicate"} 1"#,
        r#"spotlight_data_plane_events_total{tenant="acme",outcome="rejected"} 1"#,
        r#"spotlight_data_plane_http_requests_total{route="/v1/sdk/events",method="POST",status="200"} 1"#,
        r#"spotlight_data_plane_http_requests_total{route="/v1/admin/content/{content_id}",method="GET",status="404"} 1"#,
        r#"spotlight_data_plane_tenant_resolutions_total{result="miss"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line} in:\n{text}");
    }
    assert!(text.contains(r#"spotlight_data_plane_tenant_resolutions_total{result="hit"}"#));
}
