//! The browser SDK as a product: the bundles `scripts/build-sdk.sh` built ([`dist`]), and
//! which of them each tenant published and its pages were seen running ([`versions`]).

pub mod dist;
pub mod versions;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How an SDK reports its own failure (`POST /v1/sdk/errors`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    prometheus_client::encoding::EncodeLabelValue,
)]
#[serde(rename_all = "snake_case")]
#[allow(non_camel_case_types)]
pub enum SdkErrorKind {
    /// A bundle the SDK loads (the in-page builder) did not load.
    bundle_load_failed,
    /// The content for a page could not be fetched (network, or a 5xx).
    content_fetch_failed,
    /// A content item threw while it was rendered.
    render_failed,
}
