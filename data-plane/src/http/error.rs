//! The HTTP answer of the data plane's own errors (the shared ones are `service::ApiError`'s).

use serde_json::json;
use service::{ApiError, ErrorCode};

use crate::content::store::ChangeError;

/// A refused content change, as the admin API answers it.
pub fn content_error(e: ChangeError) -> ApiError {
    match e {
        ChangeError::NotFound(id) => content_not_found(id.as_str()),
        ChangeError::Stale { id, expected } => ApiError::PreconditionFailed(format!(
            "content {id} has changed since version {expected} (If-Match); read it again"
        )),
        ChangeError::Archived(id) => ApiError::conflict(
            ErrorCode::ContentArchived,
            format!("content {id} is archived and can no longer change"),
        ),
        ChangeError::Invalid { id, problems } => ApiError::Unprocessable {
            code: ErrorCode::ContentInvalid,
            message: format!(
                "content {id} cannot be published: {} problem(s); see details.problems",
                problems.len()
            ),
            details: Some(json!({ "problems": problems })),
        },
        ChangeError::Corrupt(why) => ApiError::Internal(why),
        ChangeError::Store(e) => e.into(),
    }
}

pub fn content_not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        code: ErrorCode::ContentNotFound,
        message: format!("this tenant has no content {id:?}"),
    }
}
