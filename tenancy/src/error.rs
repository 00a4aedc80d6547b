//! The one error type every port returns.
//!
//! Adapters translate their backend's errors into an [`ErrorKind`] at their own edge, so callers
//! (provisioner, control plane, data plane) branch on the kind and never on a backend's codes.
//! The same mistake must yield the same kind on every adapter; the conformance suites check it.

use std::fmt;

/// Backend-neutral classification of a port failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The named thing (tenant, table, key, role, item, API key) does not exist.
    NotFound,
    /// A create met an existing thing with the same identity.
    AlreadyExists,
    /// A conditional write's condition (version, existence) did not hold; nothing was written.
    ConditionFailed,
    /// The backend asked us to slow down. Retryable.
    Throttled,
    /// The caller may not do this: a scoped handle reaching outside its policy, a disabled key.
    AccessDenied,
    /// The request itself is malformed or over a limit; retrying it unchanged cannot succeed.
    Invalid,
    /// The backend could not be reached or failed internally. Retryable.
    Unavailable,
}

impl ErrorKind {
    /// Whether the same call may succeed if simply tried again later.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::Throttled | ErrorKind::Unavailable)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::ConditionFailed => "condition_failed",
            ErrorKind::Throttled => "throttled",
            ErrorKind::AccessDenied => "access_denied",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A port failure: its kind, a message that names what failed (and for whom), and the
/// backend's own error as the source when there is one.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// Set by the retry layer when it gave up on a retryable failure: nobody retries it again.
    exhausted: bool,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            exhausted: false,
            source: None,
        }
    }

    /// This retryable failure was retried as far as the retry layer allows (`attempts` calls
    /// in all): it keeps its kind, but [`Error::is_retryable`] is false from now on, so no
    /// caller above multiplies the retries.
    pub fn retries_exhausted(mut self, attempts: usize) -> Self {
        if !self.exhausted {
            self.exhausted = true;
            self.message = format!("{} (gave up after {attempts} attempts)", self.message);
        }
        self
    }

    /// Whether the retry layer already gave up on this failure.
    pub fn is_exhausted(&self) -> bool {
        self.exhausted
    }

    /// The same failure once more — kind, message and exhaustion, without the source, which
    /// cannot be copied — for when one failure stands for several things (each event of a
    /// batch whose call failed).
    pub fn detached(&self) -> Self {
        Error {
            kind: self.kind,
            message: self.message.clone(),
            exhausted: self.exhausted,
            source: None,
        }
    }

    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether trying the same call again may help: a retryable kind that the retry layer has
    /// not already given up on.
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable() && !self.exhausted
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::AlreadyExists, message)
    }
    pub fn condition_failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ConditionFailed, message)
    }
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::AccessDenied, message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A value from outside (an HTTP body, a CLI flag, a config file) that does not parse into a
/// domain type. `field` names the input, `reason` says what rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidInput {
    pub field: &'static str,
    pub reason: String,
}

impl InvalidInput {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        InvalidInput {
            field,
            reason: reason.into(),
        }
    }
}
