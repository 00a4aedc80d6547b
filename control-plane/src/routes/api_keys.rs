//! Tenant API keys: issue, list, revoke, introspect.
