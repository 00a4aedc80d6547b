//! Who is on the other end of SDK traffic.
//!
//! - [`end_user`]: a tenant's own users, proven by JWTs the tenant's backend signs with keys it
//!   registered through the control plane ([`tenancy::end_user::EndUserIdentity`]).

pub mod end_user;

pub use end_user::{EndUser, EndUserRefusal, EndUserVerifier, RefusalReason, VerifierSettings};
