//! A tenant's end-user identity: the keys the data plane verifies the tenant's own users'
//! tokens with.
//!
//! ```text
//! PUT    /tenants/{id}/identity    register keys (or a JWKS URL), optional issuer and audience
//! GET    /tenants/{id}/identity    what is registered
//! DELETE /tenants/{id}/identity    remove it: the data plane then accepts no end-user tokens
//! ```
//!
//! The tenant's backend signs a JWT for each of its signed-in users (`sub` = the user's id,
//! `exp` required) with a private key only it holds; it registers the public half here. Every
//! key is checked before anything is stored ([`tenancy::end_user`]): public RSA (≥ 2048 bits,
//! RS256) or EC P-256 (ES256) keys only, unique `kid`s, a JWKS URL only over `https` to a host
//! that is not private, loopback or link-local. A `PUT` replaces the whole configuration, by
//! the same read-modify-write on the record's version as `PATCH /tenants/{id}`. Only public
//! material is ever stored or shown.

use std::borrow::Cow;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tenancy::end_user::{
    EndUserIdentity, FetchPolicy, IdentityKeys, IdentitySpec, MAX_CLAIM_CHARS, MAX_KEYS,
    MAX_KID_CHARS, MAX_PEM_CHARS, MAX_URL_CHARS, PublicJwk,
};
use tenancy::{InvalidInput, TenantId, TenantRecord};
use utoipa::openapi::{RefOr, Schema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, TenantPath};
use crate::routes::tenants::{TenantIdParam, tenant_error};

/// The identity routes, each registered with its OpenAPI entry.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(set_identity, get_identity, delete_identity))
}

/// `PUT /tenants/{id}/identity` body: exactly one of `keys` and `jwks_url`, and optionally
/// `issuer` and `audience`. Read member by member (not by derive), so that an explicit `null`
/// for `keys` or `jwks_url`, which the schema does not allow, is refused rather than read as
/// absent.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct SetIdentityRequest(Map<String, Value>);

impl SetIdentityRequest {
    /// The checked configuration; the URL under `policy`. Errors: 400 naming the field.
    fn validate(self, policy: &FetchPolicy) -> Result<EndUserIdentity, ApiError> {
        let mut spec = IdentitySpec::default();
        for (name, value) in self.0 {
            match name.as_str() {
                "keys" => match value {
                    Value::Array(keys) => spec.keys = Some(keys),
                    other => return Err(wrong_type("keys", "an array of keys", &other)),
                },
                "jwks_url" => match value {
                    Value::String(url) => spec.jwks_url = Some(url),
                    other => return Err(wrong_type("jwks_url", "a string", &other)),
                },
                "issuer" => spec.issuer = nullable_string("issuer", value)?,
                "audience" => spec.audience = nullable_string("audience", value)?,
                other => {
                    return Err(InvalidInput::new(
                        "body",
                        format!(
                            "unknown field {other:?}; expected keys or jwks_url, issuer, audience"
                        ),
                    )
                    .into());
                }
            }
        }
        Ok(EndUserIdentity::new(spec, policy)?)
    }
}

fn wrong_type(field: &'static str, expected: &str, got: &Value) -> ApiError {
    InvalidInput::new(field, format!("must be {expected}, not {got}")).into()
}

fn nullable_string(field: &'static str, value: Value) -> Result<Option<String>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        other => Err(wrong_type(field, "a string or null", &other)),
    }
}

impl utoipa::PartialSchema for SetIdentityRequest {
    fn schema() -> RefOr<Schema> {
        let claim = |what: &str| {
            json!({
                "type": ["string", "null"],
                "minLength": 1,
                "maxLength": MAX_CLAIM_CHARS,
                "pattern": r"^[^\x00-\x1F\x7F-\x9F]+$",
                "description": format!(
                    "When set, every token's `{what}` must {}; 1–{MAX_CLAIM_CHARS} characters \
                     without control characters. Absent or `null`: not checked.",
                    if what == "aud" { "be (or, as an array, contain) this value" } else { "be this value" },
                ),
            })
        };
        let kid = json!({
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_KID_CHARS,
            "pattern": "^[\\x21-\\x7E]+$",
            "description": "The key's id, unique in the set: tokens name their key by it \
                (header `kid`). Visible ASCII.",
        });
        let base64url = |min: usize, max: usize, what: &str| {
            json!({
                "type": "string",
                "minLength": min,
                "maxLength": max,
                "pattern": "^[A-Za-z0-9_-]+$",
                "description": what,
            })
        };
        let rsa = json!({
            "type": "object",
            "title": "RsaJwk",
            "description": "A public RSA JWK (RFC 7517) of 2048–8192 bits, for RS256. Other \
                members (`x5c`, `key_ops`, …) are ignored; private members (`d`, `p`, `q`, \
                `dp`, `dq`, `qi`, `oth`) are refused.",
            "required": ["kty", "kid", "n", "e"],
            "properties": {
                "kty": {"type": "string", "enum": ["RSA"]},
                "kid": kid,
                "n": base64url(342, 1366, "The modulus, base64url without padding or leading zero octets."),
                "e": base64url(2, 6, "The public exponent (odd, at least 3, at most 4 octets), usually `AQAB`."),
                "alg": {"type": "string", "enum": ["RS256"]},
                "use": {"type": "string", "enum": ["sig"]},
            },
        });
        let ec = json!({
            "type": "object",
            "title": "EcJwk",
            "description": "A public EC JWK on P-256, for ES256. Other members are ignored; \
                the private member `d` is refused.",
            "required": ["kty", "kid", "crv", "x", "y"],
            "properties": {
                "kty": {"type": "string", "enum": ["EC"]},
                "kid": kid,
                "crv": {"type": "string", "enum": ["P-256"]},
                "x": base64url(43, 43, "The x coordinate: 32 octets, base64url without padding."),
                "y": base64url(43, 43, "The y coordinate: 32 octets, base64url without padding."),
                "alg": {"type": "string", "enum": ["ES256"]},
                "use": {"type": "string", "enum": ["sig"]},
            },
        });
        let pem = json!({
            "type": "object",
            "title": "PemKey",
            "description": "A public key in PEM (`-----BEGIN PUBLIC KEY-----`, \
                SubjectPublicKeyInfo): RSA of 2048–8192 bits or EC P-256 (uncompressed).",
            "required": ["kid", "pem"],
            "additionalProperties": false,
            "properties": {
                "kid": kid,
                "pem": {"type": "string", "minLength": 1, "maxLength": MAX_PEM_CHARS},
                "alg": {
                    "type": "string",
                    "enum": ["RS256", "ES256"],
                    "description": "When given, the one the key's type allows.",
                },
            },
        });
        let keys_variant = json!({
            "type": "object",
            "title": "RegisteredKeys",
            "required": ["keys"],
            "additionalProperties": false,
            "properties": {
                "keys": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_KEYS,
                    "description": format!("1–{MAX_KEYS} public keys with distinct `kid`s."),
                    "items": {"oneOf": [rsa, ec, pem]},
                },
                "issuer": claim("iss"),
                "audience": claim("aud"),
            },
        });
        let url_variant = json!({
            "type": "object",
            "title": "JwksUrl",
            "required": ["jwks_url"],
            "additionalProperties": false,
            "properties": {
                "jwks_url": {
                    "type": "string",
                    "minLength": 9,
                    "maxLength": MAX_URL_CHARS,
                    "pattern": "^[Hh][Tt][Tt][Pp][Ss]://[\\x21-\\x7E]+$",
                    "description": "Where the data plane fetches the tenant's JWKS: `https`, \
                        visible ASCII, no user info or fragment, a host that is not \
                        `localhost` nor a private, loopback, link-local or otherwise \
                        non-public address (checked again against what the name resolves \
                        to whenever the keys are fetched).",
                },
                "issuer": claim("iss"),
                "audience": claim("aud"),
            },
        });
        let schema = json!({
            "description": "Either the public keys themselves or the URL of the tenant's \
                JWKS; optionally the issuer and audience every token must name.",
            "oneOf": [keys_variant, url_variant],
        });
        RefOr::T(
            serde_json::from_value(schema)
                .expect("the identity request schema is a valid OpenAPI schema"),
        )
    }
}

impl utoipa::ToSchema for SetIdentityRequest {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("SetIdentityRequest")
    }
}

/// A tenant's end-user identity configuration, public material only.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IdentityView {
    #[schema(example = "acme")]
    pub tenant: String,
    /// The registered keys as normalised public JWKs (whatever form they were given in);
    /// `null` when the keys are fetched from `jwks_url`.
    #[schema(required = true)]
    pub keys: Option<Vec<PublicJwk>>,
    /// Where the keys are fetched from; `null` when they are registered.
    #[schema(required = true)]
    pub jwks_url: Option<String>,
    /// The `iss` every token must carry; `null`: not checked.
    #[schema(required = true)]
    pub issuer: Option<String>,
    /// The `aud` every token must name; `null`: not checked.
    #[schema(required = true)]
    pub audience: Option<String>,
    /// The tenant record's version after this request.
    pub version: u64,
}

impl IdentityView {
    fn of(tenant: &TenantId, identity: &EndUserIdentity, version: u64) -> Self {
        let (keys, jwks_url) = match identity.keys() {
            IdentityKeys::Keys(keys) => (Some(keys.iter().map(|k| k.jwk()).collect()), None),
            IdentityKeys::JwksUrl(url) => (None, Some(url.to_string())),
        };
        IdentityView {
            tenant: tenant.to_string(),
            keys,
            jwks_url,
            issuer: identity.issuer().map(str::to_owned),
            audience: identity.audience().map(str::to_owned),
            version,
        }
    }
}

/// Registers (replacing any earlier one) how the data plane verifies the tenant's own users'
/// tokens: the public keys themselves, or the URL of the tenant's JWKS.
#[utoipa::path(put, path = "/tenants/{id}/identity", tag = "identity", params(TenantIdParam),
    request_body = SetIdentityRequest,
    responses(
        (status = 200, description = "The stored configuration", body = IdentityView),
        (status = 400, description = "`invalid_request`: invalid tenant id, or a key, the URL, \
            `issuer` or `audience` is not acceptable (`details.field`; the message names the \
            key and member)", body = ErrorBody),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
        (status = 409, description = "`tenant_offboarded`: tenants being or already offboarded \
            cannot change; `concurrent_update`: the tenant changed meanwhile, retry", body = ErrorBody),
    ))]
pub async fn set_identity(
    State(state): State<AppState>,
    TenantPath(id): TenantPath,
    ApiJson(body): ApiJson<SetIdentityRequest>,
) -> ApiResult<Json<IdentityView>> {
    let identity = body.validate(&fetch_policy(&state))?;
    let record = state
        .provisioner
        .set_identity(&id, Some(identity.clone()))
        .await
        .map_err(|e| tenant_error(&id, e))?;
    tracing::info!(tenant = %id, "end-user identity configured");
    Ok(Json(IdentityView::of(&id, &identity, record.version)))
}

/// What the tenant registered.
#[utoipa::path(get, path = "/tenants/{id}/identity", tag = "identity", params(TenantIdParam),
    responses(
        (status = 200, description = "The configuration", body = IdentityView),
        (status = 400, description = "`invalid_request`: invalid tenant id", body = ErrorBody),
        (status = 404, description = "`tenant_not_found`; `identity_not_configured`: the tenant \
            has registered none", body = ErrorBody),
    ))]
pub async fn get_identity(
    State(state): State<AppState>,
    TenantPath(id): TenantPath,
) -> ApiResult<Json<IdentityView>> {
    let record = existing(&state, &id).await?;
    let identity = configured(&record)?;
    Ok(Json(IdentityView::of(&id, identity, record.version)))
}

/// Removes the configuration: from then on the data plane verifies no end-user tokens of
/// the tenant. Answers what was removed.
#[utoipa::path(delete, path = "/tenants/{id}/identity", tag = "identity", params(TenantIdParam),
    responses(
        (status = 200, description = "The removed configuration (`version`: the record's after the removal)", body = IdentityView),
        (status = 400, description = "`invalid_request`: invalid tenant id", body = ErrorBody),
        (status = 404, description = "`tenant_not_found`; `identity_not_configured`: there is \
            nothing to remove", body = ErrorBody),
        (status = 409, description = "`tenant_offboarded`: tenants being or already offboarded \
            cannot change; `concurrent_update`: the tenant changed meanwhile, retry", body = ErrorBody),
    ))]
pub async fn delete_identity(
    State(state): State<AppState>,
    TenantPath(id): TenantPath,
) -> ApiResult<Json<IdentityView>> {
    let record = existing(&state, &id).await?;
    let removed = configured(&record)?.clone();
    let record = state
        .provisioner
        .set_identity(&id, None)
        .await
        .map_err(|e| tenant_error(&id, e))?;
    tracing::info!(tenant = %id, "end-user identity removed");
    Ok(Json(IdentityView::of(&id, &removed, record.version)))
}

/// The policy JWKS URLs are registered under: public hosts only, unless the deployment is a
/// test that allows loopback (`ControlPlaneSettings::allow_loopback_jwks`).
fn fetch_policy(state: &AppState) -> FetchPolicy {
    FetchPolicy {
        allow_loopback: state.settings.allow_loopback_jwks,
    }
}

async fn existing(state: &AppState, id: &TenantId) -> ApiResult<TenantRecord> {
    state
        .provisioner
        .record(id)
        .await
        .map_err(|e| tenant_error(id, e))
}

/// 404 `identity_not_configured` when the tenant has registered none.
fn configured(record: &TenantRecord) -> ApiResult<&EndUserIdentity> {
    record.identity.as_ref().ok_or_else(|| ApiError::NotFound {
        code: ErrorCode::IdentityNotConfigured,
        message: format!(
            "tenant '{}' has no end-user identity configuration; PUT one first",
            record.id
        ),
    })
}
