//! Every machine-readable error code a Spotlight service answers with, in one enum.
//!
//! Clients branch on `error.code`, so the codes are a contract: each is spelt once, here, and
//! `/openapi.json` lists them all (the `code` field's schema is this enum). A service that
//! needs a new code adds a variant here, so the two services can never spell one code two
//! ways. Which status a code travels with is [`crate::error::ApiError`]'s business.

use serde::Serialize;

/// Declares [`ErrorCode`], its [`ErrorCode::ALL`] list and [`ErrorCode::as_str`] from one
/// list, so none of the three can miss a variant.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident => $code:literal,)+) => {
        /// A stable, machine-readable error code, serialised as its snake_case string.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)+
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The code as clients see it in `error.code`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)+
                }
            }
        }
    };
}

error_codes! {
    /// 400: the request is malformed or a value is invalid (`details.field` names it).
    InvalidRequest => "invalid_request",
    /// 400: the body is not JSON of the documented shape.
    InvalidJson => "invalid_json",
    /// 400: the `Idempotency-Key` header is not 1–255 visible ASCII characters.
    InvalidIdempotencyKey => "invalid_idempotency_key",
    /// 400: this backend cannot mint admin tokens (they come from the identity provider).
    MintingUnsupported => "minting_unsupported",
    /// 401: missing, malformed or wrong credentials.
    Unauthorized => "unauthorized",
    /// 403: the API key's tenant is suspended.
    TenantSuspended => "tenant_suspended",
    /// 403: a valid platform token of the tenant, whose user the admin strategy does not
    /// accept as one of its admins.
    NotAnAdmin => "not_an_admin",
    /// 403: a publishable key used from a browser origin its tenant does not allow (or with
    /// no origin at all).
    OriginNotAllowed => "origin_not_allowed",
    /// 404: no route, or no such resource.
    NotFound => "not_found",
    /// 404: no tenant with that id.
    TenantNotFound => "tenant_not_found",
    /// 404: no such admin of the tenant.
    AdminNotFound => "admin_not_found",
    /// 404: no such API key of the tenant.
    ApiKeyNotFound => "api_key_not_found",
    /// 404: the tenant has no content with that id (or no such version of it).
    ContentNotFound => "content_not_found",
    /// 404: the browser SDK has no such version or file (or was never built here).
    SdkNotFound => "sdk_not_found",
    /// 404: the tenant has no chat session with that id.
    ChatSessionNotFound => "chat_session_not_found",
    /// 404: the tenant has registered no end-user identity configuration.
    IdentityNotConfigured => "identity_not_configured",
    /// 405: the path exists, the method does not.
    MethodNotAllowed => "method_not_allowed",
    /// 408: the request took longer than the server's request timeout.
    RequestTimeout => "request_timeout",
    /// 409: a tenant with that id exists already.
    TenantExists => "tenant_exists",
    /// 409: the tenant is being or has been offboarded.
    TenantOffboarded => "tenant_offboarded",
    /// 409: the tenant is not active, so the request cannot happen now.
    TenantNotActive => "tenant_not_active",
    /// 409: the lifecycle does not allow this transition from the tenant's status.
    IllegalTransition => "illegal_transition",
    /// 409: the resource exists already.
    AlreadyExists => "already_exists",
    /// 409: another request changed the resource meanwhile; retry.
    ConcurrentUpdate => "concurrent_update",
    /// 409: the chat session holds as many messages as a session may; start a new one.
    ChatSessionFull => "chat_session_full",
    /// 409: another run took the tenant over.
    Superseded => "superseded",
    /// 409: that e-mail address administers a tenant already.
    AdminExists => "admin_exists",
    /// 409: the content is archived and can no longer change or be published.
    ContentArchived => "content_archived",
    /// 409: a request with this `Idempotency-Key` is still running.
    IdempotencyKeyInUse => "idempotency_key_in_use",
    /// 410: the stored response showed an API key since revoked, and was purged with it.
    IdempotentResponsePurged => "idempotent_response_purged",
    /// 412: the resource changed since the version `If-Match` names; read it again.
    PreconditionFailed => "precondition_failed",
    /// 413: the body is larger than the server accepts.
    PayloadTooLarge => "payload_too_large",
    /// 415: the body is not `application/json`.
    UnsupportedMediaType => "unsupported_media_type",
    /// 422: this `Idempotency-Key` was used for a different request.
    IdempotencyKeyReused => "idempotency_key_reused",
    /// 422: the content cannot be published as it is (`details.problems` lists every problem
    /// with its path).
    ContentInvalid => "content_invalid",
    /// 422: a metrics upload has bad rows; nothing was stored (`details.problems` lists every
    /// one with its row, line and column).
    MetricsInvalid => "metrics_invalid",
    /// 428: a change needs `If-Match` with the version it was made against.
    PreconditionRequired => "precondition_required",
    /// 429: the tenant is over its request rate; `Retry-After` says when to try again.
    RateLimited => "rate_limited",
    /// 503: the API key's tenant is still being provisioned; `Retry-After` says when to look
    /// again.
    TenantProvisioning => "tenant_provisioning",
    /// 503: the API key's tenant failed to provision; an operator retries it.
    TenantFailed => "tenant_failed",
    /// 503: a retryable backend failure, or the server is stopping.
    Unavailable => "unavailable",
    /// 503: a new tenant would exceed an account quota (`details` say which).
    QuotaExceeded => "quota_exceeded",
    /// 500: an unexpected failure; the cause is logged, never sent.
    Internal => "internal",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use utoipa::PartialSchema;

    use super::*;

    #[test]
    fn every_code_serialises_to_its_documented_string() {
        for code in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::from(code.as_str()),
                "{code:?}"
            );
        }
        let unique: BTreeSet<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(unique.len(), ErrorCode::ALL.len(), "codes are distinct");
    }

    #[test]
    fn the_schema_enumerates_exactly_every_code() {
        let schema = serde_json::to_value(ErrorCode::schema()).unwrap();
        let listed: Vec<&str> = schema["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("an enum schema: {schema}"))
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let all: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, all);
    }
}
