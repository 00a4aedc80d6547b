//! Who is on the other end of SDK and admin traffic.
//!
//! - [`admin`]: a tenant's administrators, proven by platform ID tokens and admitted by the
//!   configured strategy (`table_lookup` or `jwt_group`).
//! - [`end_user`]: a tenant's own users, proven by JWTs the tenant's backend signs with keys it
//!   registered through the control plane ([`tenancy::end_user::EndUserIdentity`]).

pub mod admin;
pub mod end_user;

pub use admin::{AdminGroup, AdminRefusal, AdminStrategy, StrategyKind};
pub use end_user::{EndUser, EndUserRefusal, EndUserVerifier, RefusalReason, VerifierSettings};
