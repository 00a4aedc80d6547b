//! The HTTP settings every Spotlight service reads the same way (`SPOTLIGHT_*`, through the
//! shared figment): the listener's timeouts and connection bound, and the shutdown grace. Each
//! service flattens [`ServerSettings`] into its own settings, so a setting means the same in
//! both and is documented once.

use std::time::Duration;

use figment::Figment;
use serde::{Deserialize, Serialize};
use tenancy::settings::{Bounded, ConfigError, describe};

use crate::server::ServerLimits;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerSettings {
    /// `SPOTLIGHT_SHUTDOWN_GRACE_SECS`: how long a stopping process lets in-flight work
    /// (background runs, the outbox processor's step) finish.
    pub shutdown_grace_secs: Bounded<0, 3600>,
    /// `SPOTLIGHT_HEADER_READ_TIMEOUT_SECS`: how long a client may take to send a request's
    /// line and headers, counted from the connection's start or the request's first byte.
    pub header_read_timeout_secs: Bounded<1, 300>,
    /// `SPOTLIGHT_IDLE_TIMEOUT_SECS`: how long a keep-alive connection may sit between requests
    /// (and a response may make no progress) before it is closed.
    pub idle_timeout_secs: Bounded<1, 3600>,
    /// `SPOTLIGHT_REQUEST_TIMEOUT_SECS`: longest a request may take from its headers to its
    /// response, body upload and handler included; past it the client gets a JSON 408.
    pub request_timeout_secs: Bounded<1, 3600>,
    /// `SPOTLIGHT_MAX_CONNECTIONS`: connections served at once; further ones wait in the
    /// listener's accept backlog until one closes.
    pub max_connections: Bounded<1, 65_536>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            shutdown_grace_secs: Bounded::must(20),
            header_read_timeout_secs: Bounded::must(10),
            idle_timeout_secs: Bounded::must(60),
            request_timeout_secs: Bounded::must(60),
            max_connections: Bounded::must(1024),
        }
    }
}

impl ServerSettings {
    /// Extracts these settings alone, so an error names the setting at fault (read through a
    /// service's `#[serde(flatten)]`, it would not).
    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        figment.extract().map_err(|e| ConfigError(describe(e)))
    }

    /// The limits the HTTP listener enforces on every connection.
    pub fn limits(&self) -> ServerLimits {
        ServerLimits {
            header_read_timeout: self.header_read_timeout_secs.secs(),
            idle_timeout: self.idle_timeout_secs.secs(),
            request_timeout: self.request_timeout_secs.secs(),
            max_connections: self.max_connections.as_usize(),
        }
    }

    pub fn shutdown_grace(&self) -> Duration {
        self.shutdown_grace_secs.secs()
    }
}
