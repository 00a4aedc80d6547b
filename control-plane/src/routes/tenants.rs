//! Tenant lifecycle routes.
