//! Liveness, readiness and the OpenAPI document.
