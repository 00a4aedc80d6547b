//! Bounded retries of port calls that failed with a retryable kind (`Throttled`, `Unavailable`).

use std::future::Future;
use std::time::Duration;

use tenancy::ErrorKind;

/// How many times a retryable failure is tried in all, and the first pause (doubled each time).
const ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// Calls `call` until it succeeds, fails with a non-retryable kind, or [`ATTEMPTS`] calls have
/// failed; returns the last result. `what` names the call in logs.
pub(crate) async fn retrying<T, F, Fut>(what: &str, mut call: F) -> tenancy::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = tenancy::Result<T>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if e.kind().is_retryable() && attempt < ATTEMPTS => {
                tracing::warn!(what, attempt, error = %e, "retryable failure; trying again");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Whether `result` failed because the thing was absent.
pub(crate) fn is_not_found<T>(result: &tenancy::Result<T>) -> bool {
    matches!(result, Err(e) if e.kind() == ErrorKind::NotFound)
}
