//! The tenant lifecycle: the one place where state transitions are allowed or refused.
//!
//! ```text
//! Requested → Provisioning → Active ⇄ Suspended
//! Provisioning → Failed (after rollback) → Provisioning (retry)
//! Active → Upgrading (isolation) → Active
//! Active | Suspended | Failed → Deprovisioning → Deleted (tombstone kept)
//! Requested | Provisioning → Deprovisioning (offboarding cancels a run, then cleans up)
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a tenant is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    Requested,
    Provisioning,
    Active,
    Suspended,
    Failed,
    Upgrading,
    Deprovisioning,
    Deleted,
}

impl TenantStatus {
    pub const ALL: [TenantStatus; 8] = [
        TenantStatus::Requested,
        TenantStatus::Provisioning,
        TenantStatus::Active,
        TenantStatus::Suspended,
        TenantStatus::Failed,
        TenantStatus::Upgrading,
        TenantStatus::Deprovisioning,
        TenantStatus::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Requested => "requested",
            TenantStatus::Provisioning => "provisioning",
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
            TenantStatus::Failed => "failed",
            TenantStatus::Upgrading => "upgrading",
            TenantStatus::Deprovisioning => "deprovisioning",
            TenantStatus::Deleted => "deleted",
        }
    }

    pub fn parse(raw: &str) -> Option<TenantStatus> {
        TenantStatus::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// States in which work is under way that a restarted control plane must resume.
    pub fn is_in_flight(self) -> bool {
        matches!(
            self,
            TenantStatus::Requested
                | TenantStatus::Provisioning
                | TenantStatus::Upgrading
                | TenantStatus::Deprovisioning
        )
    }

    /// The single transition function. Returns the next state, or the refusal that names both
    /// the state and the transition.
    pub fn apply(self, transition: Transition) -> Result<TenantStatus, IllegalTransition> {
        use TenantStatus as S;
        use Transition as T;
        let next = match (self, transition) {
            (S::Requested, T::BeginProvisioning) => S::Provisioning,
            (S::Provisioning, T::Activate) => S::Active,
            (S::Provisioning, T::Fail) => S::Failed,
            (S::Failed, T::Retry) => S::Provisioning,
            (S::Active, T::Suspend) => S::Suspended,
            (S::Suspended, T::Resume) => S::Active,
            (S::Active, T::BeginUpgrade) => S::Upgrading,
            (S::Upgrading, T::FinishUpgrade) => S::Active,
            (
                S::Requested | S::Provisioning | S::Active | S::Suspended | S::Failed,
                T::BeginOffboarding,
            ) => S::Deprovisioning,
            (S::Deprovisioning, T::FinishOffboarding) => S::Deleted,
            (from, transition) => return Err(IllegalTransition { from, transition }),
        };
        Ok(next)
    }
}

impl fmt::Display for TenantStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that happens to a tenant and may move it to another state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    BeginProvisioning,
    Activate,
    /// Provisioning failed permanently and its completed steps were undone.
    Fail,
    Retry,
    Suspend,
    Resume,
    BeginUpgrade,
    FinishUpgrade,
    BeginOffboarding,
    FinishOffboarding,
}

impl Transition {
    pub const ALL: [Transition; 10] = [
        Transition::BeginProvisioning,
        Transition::Activate,
        Transition::Fail,
        Transition::Retry,
        Transition::Suspend,
        Transition::Resume,
        Transition::BeginUpgrade,
        Transition::FinishUpgrade,
        Transition::BeginOffboarding,
        Transition::FinishOffboarding,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Transition::BeginProvisioning => "begin_provisioning",
            Transition::Activate => "activate",
            Transition::Fail => "fail",
            Transition::Retry => "retry",
            Transition::Suspend => "suspend",
            Transition::Resume => "resume",
            Transition::BeginUpgrade => "begin_upgrade",
            Transition::FinishUpgrade => "finish_upgrade",
            Transition::BeginOffboarding => "begin_offboarding",
            Transition::FinishOffboarding => "finish_offboarding",
        }
    }
}

/// A transition the lifecycle does not allow from the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {} a tenant that is {from}", transition.as_str().replace('_', " "))]
pub struct IllegalTransition {
    pub from: TenantStatus,
    pub transition: Transition,
}

#[cfg(test)]
mod tests {
    use super::*;
    use TenantStatus as S;
    use Transition as T;
    use proptest::prelude::*;

    /// The lifecycle written out as data, independently of `apply`'s match, so the property
    /// test compares two descriptions of the same diagram.
    const EDGES: &[(S, T, S)] = &[
        (S::Requested, T::BeginProvisioning, S::Provisioning),
        (S::Provisioning, T::Activate, S::Active),
        (S::Provisioning, T::Fail, S::Failed),
        (S::Failed, T::Retry, S::Provisioning),
        (S::Active, T::Suspend, S::Suspended),
        (S::Suspended, T::Resume, S::Active),
        (S::Active, T::BeginUpgrade, S::Upgrading),
        (S::Upgrading, T::FinishUpgrade, S::Active),
        (S::Requested, T::BeginOffboarding, S::Deprovisioning),
        (S::Provisioning, T::BeginOffboarding, S::Deprovisioning),
        (S::Active, T::BeginOffboarding, S::Deprovisioning),
        (S::Suspended, T::BeginOffboarding, S::Deprovisioning),
        (S::Failed, T::BeginOffboarding, S::Deprovisioning),
        (S::Deprovisioning, T::FinishOffboarding, S::Deleted),
    ];

    fn expected(from: S, t: T) -> Option<S> {
        EDGES
            .iter()
            .find(|(f, tr, _)| *f == from && *tr == t)
            .map(|(_, _, to)| *to)
    }

    proptest! {
        #[test]
        fn random_transition_sequences_follow_the_diagram_exactly(
            steps in proptest::collection::vec(0usize..Transition::ALL.len(), 0..64)
        ) {
            let mut state = S::Requested;
            for i in steps {
                let t = Transition::ALL[i];
                match (state.apply(t), expected(state, t)) {
                    (Ok(next), Some(want)) => { prop_assert_eq!(next, want); state = next; }
                    (Err(e), None) => {
                        prop_assert_eq!(e.from, state);
                        prop_assert_eq!(e.transition, t);
                    }
                    (got, want) => prop_assert!(false, "{state} --{t:?}--> got {got:?}, diagram says {want:?}"),
                }
            }
        }
    }

    #[test]
    fn deleted_is_terminal() {
        for t in Transition::ALL {
            assert!(
                S::Deleted.apply(t).is_err(),
                "{t:?} must be refused from deleted"
            );
        }
    }

    #[test]
    fn suspended_tenant_cannot_be_activated_or_suspended_again() {
        assert!(S::Suspended.apply(T::Suspend).is_err());
        assert!(S::Suspended.apply(T::Activate).is_err());
        assert_eq!(
            S::Suspended.apply(T::Suspend).unwrap_err().to_string(),
            "cannot suspend a tenant that is suspended"
        );
    }
}
