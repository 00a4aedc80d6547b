//! `Idempotency-Key` on every POST of the control plane.
//!
//! A POST carrying the header is executed at most once per key: the first request claims the
//! key in the registry, runs, and its response (status, `Location`, `Content-Type`,
//! `Cache-Control`, body) is stored; a retry with the same key and the same request gets that
//! response again, verbatim, plus `Idempotent-Replayed: true`.
//!
//! | found under the key | same request | different request |
//! |---|---|---|
//! | nothing (or expired record, or a claim whose lease ran out) | execute | execute |
//! | completed response | replay | 422 `idempotency_key_reused` |
//! | response purged with the API key it showed | 410 `idempotent_response_purged` | 422 |
//! | claim still running | 409 `idempotency_key_in_use` | 422 `idempotency_key_reused` |
//!
//! "Same request" means the same fingerprint: SHA-256 over the method, the path, the query
//! string (pairs sorted) and the body (JSON canonicalised with sorted keys; other bodies as raw
//! bytes). Stored bodies are sealed (`crate::sealing`): a response showing a new API key is
//! never kept in clear, and it is purged when that key is revoked or its tenant offboarded.
//!
//! **What is stored.** Following Stripe's rule, a result is saved only once the endpoint has
//! started executing: the handler calls [`IdempotentRequest::begin`] when the request has
//! passed every check made before its first write (authentication, content type, body, path,
//! existence of the tenant it names). A request rejected before that — or one that conflicts
//! with a request in flight, or ends in a 5xx — saves nothing: its claim is released, so the
//! corrected request can still succeed under the same key.
//!
//! **After a crash.** A claim is held under a lease (`SPOTLIGHT_IDEMPOTENCY_LEASE_SECS`) that
//! the process running the request renews while it runs. A process that dies stops renewing,
//! so within one lease the retry takes the claim over and executes again; handlers recognise
//! what the dead request already did by its [`RequestId`] (a tenant records the request that
//! created it), so the retry gets the outcome of its own request, not a conflict with it.
//!
//! The claimed request runs in its own task: a client that disconnects mid-request does not
//! cancel it, and its retry gets the stored response.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tenancy::ports::Registry;
use tenancy::{ErrorKind, IdempotencyClaim, RequestId, RevealedKey, StoredResponse};
use time::OffsetDateTime;

use crate::error::{ApiError, ErrorCode};
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

/// How many times per lease a running request renews its claim: a renewal may fail, or take
/// up to three quarters of the lease, before the claim lapses.
const RENEWALS_PER_LEASE: u32 = 4;

/// A client-chosen idempotency key: 1–255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    pub fn parse(raw: &[u8]) -> Result<Self, ApiError> {
        let bad = |reason: &str| ApiError::BadRequest {
            code: ErrorCode::InvalidIdempotencyKey,
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

/// What a handler learns about the idempotent request it serves (empty without an
/// `Idempotency-Key`): its [`RequestId`], and the calls that decide what the middleware stores.
#[derive(Clone, Default)]
pub struct IdempotentRequest(Option<Scope>);

#[derive(Clone)]
struct Scope {
    id: RequestId,
    execution: Arc<Mutex<Execution>>,
}

/// What the handler reported while it ran.
#[derive(Default)]
struct Execution {
    started: bool,
    reveals: Option<RevealedKey>,
}

impl IdempotentRequest {
    /// The request's id, to store on what it creates.
    pub fn id(&self) -> Option<RequestId> {
        self.0.as_ref().map(|s| s.id.clone())
    }

    /// The request passed every check made before its first write and is about to make it:
    /// from now on its result is stored and replayed. Before this, nothing is stored.
    pub fn begin(&self) {
        self.update(|e| e.started = true);
    }

    /// The response shows this API key's secret: the stored copy is purged when the key is
    /// revoked or its tenant offboarded.
    pub fn reveals(&self, key: RevealedKey) {
        self.update(|e| e.reveals = Some(key));
    }

    fn update(&self, f: impl FnOnce(&mut Execution)) {
        if let Some(scope) = &self.0 {
            f(&mut scope
                .execution
                .lock()
                .unwrap_or_else(PoisonError::into_inner));
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotentRequest {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<IdempotentRequest>()
            .cloned()
            .unwrap_or_default())
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
    let lease = state.settings.idempotency_lease();
    let claim = registry
        .claim_idempotency_key(
            &registry_key,
            &fingerprint,
            now,
            now + ttl,
            time::Duration::try_from(lease).unwrap_or(time::Duration::MAX),
        )
        .await?;

    let reused = || ApiError::Unprocessable {
        code: ErrorCode::IdempotencyKeyReused,
        message: "this Idempotency-Key was used for a different request; use a new key".to_owned(),
        details: None,
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
        IdempotencyClaim::Purged {
            fingerprint: stored,
        } => {
            if stored == fingerprint {
                Err(ApiError::Gone {
                    code: ErrorCode::IdempotentResponsePurged,
                    message: "this request was executed, but its response showed an API key \
                              that has since been revoked, and was purged with it; the key's \
                              secret is not kept anywhere. Issue a new key with a new \
                              Idempotency-Key"
                        .to_owned(),
                })
            } else {
                Err(reused())
            }
        }
        IdempotencyClaim::InProgress {
            fingerprint: running,
        } => {
            if running == fingerprint {
                Err(ApiError::conflict(
                    ErrorCode::IdempotencyKeyInUse,
                    "a request with this Idempotency-Key is still running; retry later",
                ))
            } else {
                Err(reused())
            }
        }
        IdempotencyClaim::Claimed { token, epoch } => {
            let scope = IdempotentRequest(Some(Scope {
                id: RequestId::of(&registry_key, &fingerprint, &epoch),
                execution: Arc::default(),
            }));
            let mut request = Request::from_parts(parts, Body::from(body));
            request.extensions_mut().insert(scope.clone());
            let run = tokio::spawn(execute_and_store(
                registry.clone(),
                state.sealer.clone(),
                Claim {
                    key: registry_key.clone(),
                    token: token.clone(),
                    lease,
                },
                scope,
                seal_context(&registry_key, &fingerprint),
                request,
                next,
            ));
            // The task releases the claim itself on every path that stores nothing, panics
            // included, so it does so even when this future is dropped (client gone).
            run.await
                .map_err(|e| ApiError::Internal(format!("idempotent request task failed: {e}")))
        }
    }
}

/// The registry key this request claimed, the token that proves the claim is its own, and
/// the lease it is held under.
struct Claim {
    key: String,
    token: String,
    lease: Duration,
}

/// Aborts the task when dropped: a renewal must end with its request, however that ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs the claimed request, renewing its claim meanwhile, then stores its response — or,
/// when the handler never began executing, panicked, or answered a 5xx, releases the claim.
///
/// A response is only ever shown once it is stored: if storing fails (the registry is down,
/// or this request lost its claim to a takeover while it ran), the client gets a 503 instead
/// and its retry gets the outcome — so a client never holds, say, an API key that a retry
/// would take for unseen and revoke.
async fn execute_and_store(
    registry: Arc<dyn Registry>,
    sealer: Arc<ResponseSealer>,
    claim: Claim,
    scope: IdempotentRequest,
    context: Vec<u8>,
    request: Request,
    next: Next,
) -> Response {
    let renewing = AbortOnDrop(tokio::spawn(keep_claimed(
        registry.clone(),
        claim.key.clone(),
        claim.token.clone(),
        claim.lease,
    )));
    let response = match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(e) => {
            drop(renewing);
            release(registry.as_ref(), &claim).await;
            return ApiError::Internal(format!("an idempotent request's handler failed: {e}"))
                .into_response();
        }
    };
    drop(renewing);
    let (started, reveals) = match &scope.0 {
        Some(s) => {
            let execution = s.execution.lock().unwrap_or_else(PoisonError::into_inner);
            (execution.started, execution.reveals.clone())
        }
        None => (false, None),
    };
    if !started {
        // Rejected before its first write: nothing happened that a retry must not repeat.
        release(registry.as_ref(), &claim).await;
        return response;
    }
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
            reveals,
        };
        if let Err(e) = registry
            .complete_idempotency_key(&claim.key, &claim.token, &stored)
            .await
        {
            // The request did happen but its response is not stored, so it is not shown
            // either. The retry executes again and gets the outcome of this attempt:
            // onboarding recognises the tenant it created; an API-key POST revokes the key
            // issued here (never shown) and issues one it shows; lifecycle POSTs meet the state
            // they already made (409).
            tracing::warn!(error = %e, "storing an idempotent response failed; answering 503");
            release(registry.as_ref(), &claim).await;
            return ApiError::Unavailable(
                "the request was executed but its outcome could not be recorded; retry it with \
                 the same Idempotency-Key to get that outcome"
                    .to_owned(),
            )
            .into_response();
        }
    }
    Response::from_parts(parts, Body::from(body))
}

/// Renews the claim every lease / [`RENEWALS_PER_LEASE`] until aborted, or until the claim is
/// no longer this request's. Renewals are paced from the start, not from the end of the last
/// one, so a slow renewal does not push the next one past the lease.
async fn keep_claimed(registry: Arc<dyn Registry>, key: String, token: String, lease: Duration) {
    let mut every = tokio::time::interval(lease / RENEWALS_PER_LEASE);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    every.tick().await; // the first tick is immediate: the claim was just made
    loop {
        every.tick().await;
        match registry
            .renew_idempotency_claim(&key, &token, OffsetDateTime::now_utc())
            .await
        {
            Ok(()) => {}
            Err(e) if matches!(e.kind(), ErrorKind::ConditionFailed | ErrorKind::NotFound) => {
                tracing::warn!(error = %e, "an idempotency claim was lost while its request ran");
                return;
            }
            Err(e) => tracing::warn!(error = %e, "renewing an idempotency claim failed"),
        }
    }
}

async fn release(registry: &dyn Registry, claim: &Claim) {
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
