//! Where a verifier finds the public key a token names: a fixed JWKS (the embedded issuer's
//! own), or one fetched from a URL and cached (Cognito's `/.well-known/jwks.json`).
//!
//! A remote set is fetched on first use and again only when a token names a `kid` the cache
//! does not hold (the issuer rotated its keys) — and then at most once per
//! [`RemoteJwks::min_refetch`]: a flood of tokens with made-up `kid`s costs one fetch per
//! interval, not one per token. Concurrent misses share one fetch.
//!
//! The client ([`http_client`], [`guarded_http_client`]) resolves host names itself
//! ([`GuardedResolver`]): for keys a tenant points at, it connects only to the addresses its
//! [`FetchPolicy`] permits, so a public name that resolves to a private address is refused
//! before any connection is made. Redirects are never followed.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

use crate::end_user::FetchPolicy;
use crate::error::{Error, Result};

/// The public keys a verifier trusts, by `kid`.
pub enum KeySource {
    Fixed(HashMap<String, DecodingKey>),
    Remote(Box<RemoteJwks>),
}

impl KeySource {
    /// The keys of `set` (keys without a `kid`, or not usable for signatures, are left out).
    pub fn fixed(set: &JwkSet) -> KeySource {
        KeySource::Fixed(decoding_keys(set))
    }

    /// The key named `kid`. Errors: `AccessDenied` for a `kid` no trusted key has;
    /// `Unavailable` when a remote set cannot be fetched.
    pub async fn key(&self, kid: &str) -> Result<DecodingKey> {
        match self {
            KeySource::Fixed(keys) => keys.get(kid).cloned().ok_or_else(|| unknown(kid)),
            KeySource::Remote(remote) => remote.key(kid).await,
        }
    }
}

fn unknown(kid: &str) -> Error {
    Error::access_denied(format!(
        "token refused: it names signing key {kid:?}, which the issuer does not publish"
    ))
}

fn decoding_keys(set: &JwkSet) -> HashMap<String, DecodingKey> {
    set.keys
        .iter()
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
        })
        .collect()
}

/// The keys of a fetched JWKS (its `keys` array) a verifier trusts, by `kid`.
pub type KeySelection = fn(&[Value]) -> HashMap<String, DecodingKey>;

/// The platform's selection: every key `jsonwebtoken` can read that has a `kid` (its
/// verifier then accepts RS256 only).
fn platform_keys(values: &[Value]) -> HashMap<String, DecodingKey> {
    let keys = values
        .iter()
        .filter_map(|v| serde_json::from_value::<Jwk>(v.clone()).ok())
        .collect();
    decoding_keys(&JwkSet { keys })
}

/// The HTTP(S) client JWKS documents are fetched with.
pub type HttpClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<
        hyper_util::client::legacy::connect::HttpConnector<GuardedResolver>,
    >,
    http_body_util::Empty<hyper::body::Bytes>,
>;

/// The largest JWKS document read (Cognito's is about 1 KiB).
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// How long one fetch may take, connection and body included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A JWKS fetched over HTTP(S) and cached.
pub struct RemoteJwks {
    url: String,
    http: HttpClient,
    min_refetch: Duration,
    select: KeySelection,
    keys: RwLock<Arc<HashMap<String, DecodingKey>>>,
    /// When the last fetch was attempted; held across a fetch, so concurrent misses wait for
    /// it instead of fetching too.
    last_fetch: Mutex<Option<Instant>>,
}

impl RemoteJwks {
    /// Fetches from `url` with `http`, refetching for an unknown `kid` at most once per
    /// `min_refetch`.
    pub fn new(url: &str, http: HttpClient, min_refetch: Duration) -> RemoteJwks {
        Self::with_selection(url, http, min_refetch, platform_keys)
    }

    /// Like [`RemoteJwks::new`], trusting only the keys `select` picks from each fetched set
    /// (a tenant's JWKS: only keys its users' tokens may be signed with).
    pub fn with_selection(
        url: &str,
        http: HttpClient,
        min_refetch: Duration,
        select: KeySelection,
    ) -> RemoteJwks {
        RemoteJwks {
            url: url.to_owned(),
            http,
            min_refetch,
            select,
            keys: RwLock::new(Arc::default()),
            last_fetch: Mutex::new(None),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The key named `kid`: from the cache, else from a fetch (at most one per
    /// `min_refetch`). Errors: `AccessDenied` for a `kid` the set does not hold;
    /// `Unavailable` when the set cannot be fetched.
    pub async fn key(&self, kid: &str) -> Result<DecodingKey> {
        if let Some(key) = self.keys.read().await.get(kid) {
            return Ok(key.clone());
        }
        let mut last = self.last_fetch.lock().await;
        // Another caller may have fetched while this one waited.
        if let Some(key) = self.keys.read().await.get(kid) {
            return Ok(key.clone());
        }
        if last.is_some_and(|at| at.elapsed() < self.min_refetch) {
            return Err(unknown(kid));
        }
        *last = Some(Instant::now());
        let set = self.fetch().await?;
        let keys = Arc::new((self.select)(&set));
        *self.keys.write().await = keys.clone();
        keys.get(kid).cloned().ok_or_else(|| unknown(kid))
    }

    /// The `keys` array of the document at the URL.
    async fn fetch(&self) -> Result<Vec<Value>> {
        use http_body_util::BodyExt;
        let failed =
            |what: String| Error::unavailable(format!("fetching the JWKS at {}: {what}", self.url));
        let uri: hyper::Uri = self
            .url
            .parse()
            .map_err(|e| failed(format!("not a URL: {e}")))?;
        let request = hyper::Request::get(uri)
            .header(hyper::header::ACCEPT, "application/json")
            .body(http_body_util::Empty::new())
            .map_err(|e| failed(e.to_string()))?;
        let fetched = tokio::time::timeout(FETCH_TIMEOUT, async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| failed(with_causes(&e)))?;
            let status = response.status();
            if !status.is_success() {
                return Err(failed(format!("HTTP {status}")));
            }
            http_body_util::Limited::new(response.into_body(), MAX_JWKS_BYTES)
                .collect()
                .await
                .map(|body| body.to_bytes())
                .map_err(|e| failed(e.to_string()))
        })
        .await
        .map_err(|_| failed("timed out".to_owned()))??;
        #[derive(serde::Deserialize)]
        struct Document {
            keys: Vec<Value>,
        }
        serde_json::from_slice::<Document>(&fetched)
            .map(|d| d.keys)
            .map_err(|e| failed(format!("not a JWKS: {e}")))
    }
}

/// `e` and its sources, `: `-separated: the client's own message ("client error
/// (Connect)") says nothing of why.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Resolves host names for JWKS fetches, and — under a [`FetchPolicy`] — refuses a name any
/// of whose addresses the policy does not permit, so the connection can only go where the
/// policy allows (the connector connects to exactly the addresses resolved here; literal IP
/// hosts never reach a resolver and are checked with the URL).
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    policy: Option<FetchPolicy>,
}

impl tower::Service<hyper_util::client::legacy::connect::dns::Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future =
        Pin<Box<dyn Future<Output = std::result::Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::result::Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: hyper_util::client::legacy::connect::dns::Name) -> Self::Future {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move { resolve(&host, policy).await.map(Vec::into_iter) })
    }
}

/// The addresses of `host` (port 0: the connector sets the URL's), every one of them
/// permitted by `policy` when there is one. Errors: the lookup's, or `PermissionDenied`
/// naming the address refused.
pub async fn resolve(host: &str, policy: Option<FetchPolicy>) -> std::io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
    if addrs.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{host} has no address"),
        ));
    }
    if let Some(policy) = policy
        && let Some(refused) = addrs.iter().find(|a| !policy.permits(a.ip()))
    {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "{host} resolves to {}, which is not a public address; keys are fetched only \
                 from public hosts",
                refused.ip()
            ),
        ));
    }
    Ok(addrs)
}

/// Whether the keys at `raw` can be trusted to sign tokens: fetched over `https`, or over
/// plain `http` only from a loopback host (a local AWS-compatible server). Anyone on the path
/// of a plain fetch could publish their own keys and forge tokens for any tenant.
/// Errors: `Invalid`, saying why.
pub fn check_url(raw: &str) -> Result<()> {
    let url = url::Url::parse(raw)
        .map_err(|e| Error::invalid(format!("JWKS URL {raw:?} is not a URL: {e}")))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(Error::invalid(format!(
            "JWKS URL {raw:?} must be https (plain http only to a loopback host): \
             keys fetched in the clear could be replaced by anyone on the way"
        ))),
    }
}

/// An HTTP(S) client for JWKS documents: hyper with rustls on aws-lc-rs (the AWS SDK's stack,
/// so no second crypto provider) and the platform's root certificates. Connects to whatever
/// its host names resolve to: for the platform's own issuer, configured by the operator.
pub fn http_client() -> Result<HttpClient> {
    build_client(None)
}

/// Like [`http_client`], but connecting only to addresses `policy` permits: for keys at a URL
/// a tenant chose.
pub fn guarded_http_client(policy: FetchPolicy) -> Result<HttpClient> {
    build_client(Some(policy))
}

fn build_client(policy: Option<FetchPolicy>) -> Result<HttpClient> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A certificate the store cannot use is skipped, as browsers skip it.
        let _ = roots.add(cert);
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::unavailable(format!("configuring TLS for JWKS fetches: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http =
        hyper_util::client::legacy::connect::HttpConnector::new_with_resolver(GuardedResolver {
            policy,
        });
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn keys_are_fetched_over_https_or_from_loopback_only() {
        for ok in [
            "https://cognito-idp.us-east-1.amazonaws.com/p/.well-known/jwks.json",
            "http://127.0.0.1:5000/p/.well-known/jwks.json",
            "http://localhost:5000/jwks.json",
            "http://[::1]:5000/jwks.json",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://keys.example.com/jwks.json",
            "http://10.0.0.1/jwks.json",
            "ftp://127.0.0.1/jwks.json",
            "not a url",
        ] {
            let refused = check_url(bad).map_err(|e| e.kind());
            assert_eq!(refused.err(), Some(ErrorKind::Invalid), "{bad}");
        }
    }

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::error::ErrorKind;
    use crate::jwt::RsaSigner;

    /// Serves `body` as JSON on a loopback port; returns its URL and the request count.
    async fn serve(body: String) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                counted.fetch_add(1, Ordering::SeqCst);
                let body = body.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = socket.read(&mut buf).await;
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        (url, hits)
    }

    #[tokio::test]
    async fn unknown_kids_refetch_at_most_once_per_interval_and_known_ones_come_from_the_cache() {
        let signer = RsaSigner::generate("k1").unwrap();
        let (url, hits) = serve(serde_json::to_string(&signer.jwks()).unwrap()).await;
        let remote = RemoteJwks::new(&url, http_client().unwrap(), Duration::from_secs(3600));
        remote.key("k1").await.unwrap();
        remote.key("k1").await.unwrap();
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "a known kid is served from the cache"
        );
        for i in 0..20 {
            let refused = remote.key(&format!("bogus-{i}")).await.map(drop);
            assert_eq!(refused.unwrap_err().kind(), ErrorKind::AccessDenied);
        }
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "unknown kids within the interval cause no fetch"
        );
    }

    #[tokio::test]
    async fn an_unknown_kid_is_refetched_once_the_interval_has_passed() {
        let signer = RsaSigner::generate("k1").unwrap();
        let (url, hits) = serve(serde_json::to_string(&signer.jwks()).unwrap()).await;
        let remote = RemoteJwks::new(&url, http_client().unwrap(), Duration::ZERO);
        remote.key("k1").await.unwrap();
        let refused = remote.key("rotated-in-later").await.map(drop);
        assert_eq!(refused.unwrap_err().kind(), ErrorKind::AccessDenied);
        assert_eq!(hits.load(Ordering::SeqCst), 2, "the miss fetched again");
    }

    #[tokio::test]
    async fn a_guarded_lookup_refuses_names_that_resolve_to_loopback() {
        let refused = resolve("localhost", Some(FetchPolicy::PUBLIC_ONLY))
            .await
            .unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(
            refused.to_string().contains("not a public address"),
            "{refused}"
        );
        let allowed = resolve("localhost", Some(FetchPolicy::LOOPBACK_FOR_TESTS))
            .await
            .unwrap();
        assert!(allowed.iter().all(|a| a.ip().is_loopback()), "{allowed:?}");
        // The platform's own client resolves without a policy.
        assert!(resolve("localhost", None).await.is_ok());
    }

    #[tokio::test]
    async fn a_guarded_client_does_not_connect_to_a_name_that_resolves_to_loopback() {
        let signer = RsaSigner::generate("k1").unwrap();
        let (url, hits) = serve(serde_json::to_string(&signer.jwks()).unwrap()).await;
        let by_name = url.replace("127.0.0.1", "localhost");
        let guarded = RemoteJwks::new(
            &by_name,
            guarded_http_client(FetchPolicy::PUBLIC_ONLY).unwrap(),
            Duration::ZERO,
        );
        let refused = guarded.key("k1").await.map(drop).unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::Unavailable);
        assert!(
            refused.message().contains("not a public address"),
            "{refused}"
        );
        assert_eq!(hits.load(Ordering::SeqCst), 0, "no connection was made");
        let allowed = RemoteJwks::new(
            &by_name,
            guarded_http_client(FetchPolicy::LOOPBACK_FOR_TESTS).unwrap(),
            Duration::ZERO,
        );
        allowed.key("k1").await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_unreachable_jwks_is_unavailable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        drop(listener);
        let remote = RemoteJwks::new(&url, http_client().unwrap(), Duration::ZERO);
        let failed = remote.key("k1").await.map(drop);
        assert_eq!(failed.unwrap_err().kind(), ErrorKind::Unavailable);
    }
}
