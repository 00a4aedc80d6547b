//! `If-Match`: the revision a change was made against, as the `ETag` of what it changes said
//! (`"3"`, weak `W/"3"`, or the bare `3`).

use axum::http::{HeaderMap, header};
use service::ApiError;

/// The revision `If-Match` names: required (`428` without it; `400` when it names none).
pub fn if_match(headers: &HeaderMap) -> Result<u64, ApiError> {
    optional_if_match(headers)?.ok_or_else(|| {
        ApiError::PreconditionRequired(
            "send If-Match with the ETag (its revision) of what you change, so a concurrent \
             change is not overwritten"
                .to_owned(),
        )
    })
}

/// The revision `If-Match` names, if it is sent (`400` when it names none).
pub fn optional_if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(raw) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let raw = raw.to_str().unwrap_or_default();
    // A quoted entity tag as RFC 9110 spells it; the bare number is taken too, as clients that
    // copy the revision from a body send it so.
    let tag = raw.strip_prefix("W/").unwrap_or(raw);
    let digits = tag
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .or(Some(tag))
        .filter(|d| (1..=19).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()));
    digits
        .and_then(|d| d.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "If-Match {raw:?} names no revision: send the ETag, e.g. \"3\""
            ))
        })
}

/// The `ETag` of revision `revision`.
pub fn etag(revision: u64) -> axum::http::HeaderValue {
    axum::http::HeaderValue::from_str(&format!("\"{revision}\""))
        .unwrap_or(axum::http::HeaderValue::from_static("\"0\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_MATCH, value.parse().unwrap());
        headers
    }

    #[test]
    fn only_a_revision_is_read() {
        assert_eq!(if_match(&headers("\"3\"")).unwrap(), 3);
        assert_eq!(if_match(&headers("W/\"12\"")).unwrap(), 12);
        assert_eq!(if_match(&headers("3")).unwrap(), 3);
        for bad in [
            "\"\"",
            "\"-1\"",
            "\"99999999999999999999\"",
            "*",
            "\"3\", \"4\"",
        ] {
            assert!(if_match(&headers(bad)).is_err(), "{bad}");
        }
        assert_eq!(optional_if_match(&HeaderMap::new()).unwrap(), None);
        assert!(if_match(&HeaderMap::new()).is_err());
    }
}
