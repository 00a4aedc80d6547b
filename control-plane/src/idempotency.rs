//! `Idempotency-Key` on every POST of the control plane.
//!
//! A POST carrying the header is executed at most once per key: the first request claims the
//! key in the registry, runs, and its response (status, `Location`, `Content-Type`,
//! `Cache-Control`, body) is stored; a retry with the same key and the same request gets that
//! response again, verbatim, plus `Idempotent-Replayed: true`.
//!
//! | found under the key | same request | different request |
//! |---|---|---|
//! | nothing (or expired / stale claim) | execute | execute |
//! | completed response | replay | 422 `idempotency_key_reused` |
//! | claim still running | 409 `idempotency_key_in_use` | 422 `idempotency_key_reused` |
//!
//! "Same request" means the same fingerprint: SHA-256 over the method, the path, the query
//! string (pairs sorted) and the body (JSON canonicalised with sorted keys; other bodies as raw
//! bytes). A 5xx is not stored: the claim is released, so a retry executes again. Stored bodies
//! are sealed (`crate::sealing`): a response showing a new API key is never kept in clear.
//!
//! The claimed request runs in its own task: a client that disconnects mid-request does not
//! cancel it, and its retry gets the stored response.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tenancy::{IdempotencyClaim, StoredResponse};
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::sealing::ResponseSealer;
use crate::state::AppState;

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Response headers stored with the body and replayed. `Cache-Control` travels too: a
/// response that must not be cached (one showing a new API key) must not be cached on replay.
const STORED_HEADERS: [HeaderName; 3] = [
    header::LOCATION,
    header::CONTENT_TYPE,
    header::CACHE_CONTROL,
];

/// Namespace of this service's keys in the shared registry.
const KEY_NAMESPACE: &str = "control-plane:";

/// A claim older than this while still unfinished is presumed abandoned (its process died) and
/// may be taken over, on top of the longest time a request may legitimately run.
const STALE_MARGIN: time::Duration = time::Duration::seconds(60);

/// A client-chosen idempotency key: 1–255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    pub fn parse(raw: &[u8]) -> Result<Self, ApiError> {
        let bad = |reason: &str| ApiError::BadRequest {
            code: "invalid_idempotency_key",
            message: format!("Idempotency-Key {reason}"),
            details: Some(serde_json::json!({ "field": "Idempotency-Key" })),
        };
        if raw.is_empty() || raw.len() > Self::MAX_LEN {
            return Err(bad("must be 1 to 255 characters long"));
        }
        if !raw.iter().all(|b| (0x21..=0x7e).contains(b)) {
            return Err(bad("may contain only visible ASCII characters"));
        }
        Ok(IdempotencyKey(String::from_utf8_lossy(raw).into_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Middleware: see the module documentation.
pub async fn idempotent_post(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(raw_key) = request.headers().get(IDEMPOTENCY_KEY) else {
        return next.run(request).await;
    };
    let raw_key = raw_key.as_bytes().to_vec();
    handle(state, &raw_key, request, next)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn handle(
    state: AppState,
    raw_key: &[u8],
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let key = IdempotencyKey::parse(raw_key)?;
    let registry_key = format!("{KEY_NAMESPACE}{}", key.as_str());
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, state.settings.max_body_bytes.as_usize())
        .await
        .map_err(|_| {
            ApiError::PayloadTooLarge(
                "the request body is larger than this server accepts".to_owned(),
            )
        })?;
    let fingerprint = fingerprint(&parts.method, parts.uri.path(), parts.uri.query(), &body);

    let registry = state.registry().clone();
    let now = OffsetDateTime::now_utc();
    let ttl =
        time::Duration::try_from(state.settings.idempotency_ttl()).unwrap_or(time::Duration::DAY);
    let stale_after = time::Duration::try_from(state.settings.wait_timeout())
        .unwrap_or(time::Duration::ZERO)
        + STALE_MARGIN;
    let claim = registry
        .claim_idempotency_key(&registry_key, &fingerprint, now, now + ttl, stale_after)
        .await?;

    let reused = || ApiError::Unprocessable {
        code: "idempotency_key_reused",
        message: "this Idempotency-Key was used for a different request; use a new key".to_owned(),
    };
    match claim {
        IdempotencyClaim::Completed {
            fingerprint: stored,
            response,
        } => {
            if stored == fingerprint {
                replay(
                    &state.sealer,
                    &seal_context(&registry_key, &fingerprint),
                    response,
                )
            } else {
                Err(reused())
            }
        }
        IdempotencyClaim::InProgress {
            fingerprint: running,
        } => {
            if running == fingerprint {
                Err(ApiError::conflict(
                    "idempotency_key_in_use",
                    "a request with this Idempotency-Key is still running; retry later",
                ))
            } else {
                Err(reused())
            }
        }
        IdempotencyClaim::Claimed { token } => {
            let request = Request::from_parts(parts, Body::from(body));
            let run = tokio::spawn(execute_and_store(
                registry.clone(),
                state.sealer.clone(),
                Claim {
                    key: registry_key.clone(),
                    token: token.clone(),
                },
                seal_context(&registry_key, &fingerprint),
                request,
                next,
            ));
            match run.await {
                Ok(response) => Ok(response),
                Err(e) => {
                    // The handler panicked: nothing was stored, so a retry may execute again.
                    let claim = Claim {
                        key: registry_key,
                        token,
                    };
                    release(registry.as_ref(), &claim).await;
                    Err(ApiError::Internal(format!(
                        "idempotent request task failed: {e}"
                    )))
                }
            }
        }
    }
}

/// The registry key this request claimed and the token that proves the claim is its own.
struct Claim {
    key: String,
    token: String,
}

/// Runs the claimed request and stores (or, on 5xx, releases) its response.
async fn execute_and_store(
    registry: std::sync::Arc<dyn tenancy::ports::Registry>,
    sealer: std::sync::Arc<ResponseSealer>,
    claim: Claim,
    context: Vec<u8>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(e) => {
            release(registry.as_ref(), &claim).await;
            return ApiError::Internal(format!("reading the response to store it failed: {e}"))
                .into_response();
        }
    };
    if parts.status.is_server_error() {
        release(registry.as_ref(), &claim).await;
    } else {
        let stored = StoredResponse {
            status: parts.status.as_u16(),
            headers: stored_headers(&parts.headers),
            body: sealer.seal(&context, &body),
        };
        if let Err(e) = registry
            .complete_idempotency_key(&claim.key, &claim.token, &stored)
            .await
        {
            // The request did happen but its response is not stored. A retry finds the claim
            // (409 while fresh) and, once it is stale, executes again: lifecycle POSTs then
            // meet the state they already made (409), while an API-key POST would issue a
            // second key — rare (the registry just answered the claim) and logged here.
            tracing::warn!(error = %e, "storing an idempotent response failed");
        }
    }
    Response::from_parts(parts, Body::from(body))
}

async fn release(registry: &dyn tenancy::ports::Registry, claim: &Claim) {
    if let Err(e) = registry
        .release_idempotency_key(&claim.key, &claim.token)
        .await
    {
        tracing::warn!(error = %e, "releasing an idempotency key failed; it frees itself once stale");
    }
}

fn stored_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    STORED_HEADERS
        .iter()
        .filter_map(|name| {
            let value = headers.get(name)?.to_str().ok()?;
            Some((name.as_str().to_owned(), value.to_owned()))
        })
        .collect()
}

/// What a stored body is sealed to: this idempotency key and this request.
fn seal_context(registry_key: &str, fingerprint: &str) -> Vec<u8> {
    format!("{registry_key}\n{fingerprint}").into_bytes()
}

fn replay(
    sealer: &ResponseSealer,
    context: &[u8],
    stored: StoredResponse,
) -> Result<Response, ApiError> {
    let body = sealer.open(context, &stored.body).ok_or_else(|| {
        ApiError::Internal(
            "a stored idempotent response could not be unsealed (was the API key pepper changed?)"
                .to_owned(),
        )
    })?;
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, Bytes::from(body)).into_response();
    let headers = response.headers_mut();
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.insert(name, value);
        }
    }
    headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    Ok(response)
}

/// SHA-256 (hex) over method, path, canonical query and canonical body, each length-prefixed
/// so that no two different requests share an encoding.
pub fn fingerprint(method: &Method, path: &str, query: Option<&str>, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    for part in [
        method.as_str().as_bytes(),
        path.as_bytes(),
        canonical_query(query).as_bytes(),
        &canonical_body(body),
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex(&hasher.finalize())
}

/// Query pairs sorted, so `?b=1&a=2` and `?a=2&b=1` are the same request. Empty pairs dropped.
fn canonical_query(query: Option<&str>) -> String {
    let mut pairs: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .collect();
    pairs.sort_unstable();
    pairs.join("&")
}

/// A JSON body re-serialised with sorted keys and no insignificant whitespace; anything else
/// as it came.
fn canonical_body(body: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => {
            let mut out = String::new();
            write_canonical(&value, &mut out);
            out.into_bytes()
        }
        Err(_) => body.to_vec(),
    }
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_and_whitespace_do_not_change_the_fingerprint() {
        let a = fingerprint(
            &Method::POST,
            "/tenants",
            None,
            br#"{"id":"acme","name":"A","x":{"b":1,"a":[1,2]}}"#,
        );
        let b = fingerprint(
            &Method::POST,
            "/tenants",
            None,
            b"{ \"x\": {\"a\": [1, 2], \"b\": 1}, \"name\": \"A\", \"id\": \"acme\" }",
        );
        assert_eq!(a, b);
    }

    #[test]
    fn body_path_query_and_method_each_change_the_fingerprint() {
        let base = fingerprint(
            &Method::POST,
            "/tenants",
            Some("wait=true"),
            br#"{"id":"acme"}"#,
        );
        assert_ne!(
            base,
            fingerprint(
                &Method::POST,
                "/tenants",
                Some("wait=true"),
                br#"{"id":"acmf"}"#
            )
        );
        assert_ne!(
            base,
            fingerprint(
                &Method::POST,
                "/tenant",
                Some("wait=true"),
                br#"{"id":"acme"}"#
            )
        );
        assert_ne!(
            base,
            fingerprint(&Method::POST, "/tenants", None, br#"{"id":"acme"}"#)
        );
        assert_ne!(
            base,
            fingerprint(
                &Method::PUT,
                "/tenants",
                Some("wait=true"),
                br#"{"id":"acme"}"#
            )
        );
    }

    #[test]
    fn query_pairs_are_compared_in_sorted_order() {
        let a = fingerprint(&Method::POST, "/x", Some("b=1&a=2"), b"");
        let b = fingerprint(&Method::POST, "/x", Some("a=2&b=1"), b"");
        assert_eq!(a, b);
    }

    #[test]
    fn non_json_bodies_are_hashed_as_raw_bytes() {
        let a = fingerprint(&Method::POST, "/x", None, b"not json");
        let b = fingerprint(&Method::POST, "/x", None, b"not  json");
        assert_ne!(a, b);
    }

    #[test]
    fn keys_must_be_visible_ascii_of_bounded_length() {
        assert!(IdempotencyKey::parse(b"abc-123_X.~").is_ok());
        assert!(IdempotencyKey::parse(&[b'k'; 255]).is_ok());
        for bad in [
            &b""[..],
            &[b'k'; 256][..],
            b"has space",
            "caf\u{e9}".as_bytes(),
            b"tab\there",
        ] {
            assert!(
                IdempotencyKey::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }
}
