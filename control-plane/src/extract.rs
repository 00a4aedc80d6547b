//! The control plane's own extractor: the tenant id of a tenant-scoped path. The JSON, query
//! and path extractors with JSON rejections are the ones every service shares
//! ([`service::extract`]), re-exported here.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tenancy::TenantId;

pub use service::extract::{ApiJson, ApiPath, ApiQuery};

use crate::error::ApiError;

/// The `{id}` segment of a tenant-scoped path, parsed into a [`TenantId`] before the handler
/// runs: a bad id is a 400 (`details.field = "id"`) and never reaches a port.
#[derive(Debug, Clone)]
pub struct TenantPath(pub TenantId);

impl<S> FromRequestParts<S> for TenantPath
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = first_path_param(parts, state).await?;
        Ok(TenantPath(TenantId::parse(&raw)?))
    }
}

/// The first path parameter, as a string: works for `{id}` alone and for routes with more
/// parameters after it (`/tenants/{id}/api-keys/{key_id}`).
async fn first_path_param<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<String, ApiError> {
    let ApiPath(params) =
        ApiPath::<Vec<(String, String)>>::from_request_parts(parts, state).await?;
    params
        .into_iter()
        .next()
        .map(|(_, value)| value)
        .ok_or_else(|| {
            ApiError::Internal(
                "tenant path extractor used on a route without parameters".to_owned(),
            )
        })
}
