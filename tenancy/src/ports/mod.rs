//! The ports: narrow `Send + Sync` traits for every outside system, held as `Arc<dyn Trait>`.
//! Each has an embedded adapter (`crate::embedded`) and an AWS adapter (`crate::aws`); both
//! must pass the same conformance suite (`crate::conformance`).

pub mod event_sink;
pub mod identity;
pub mod item_store;
pub mod key_vault;
pub mod registry;
pub mod role_issuer;
pub mod stream_trigger;
pub mod table_admin;

pub use event_sink::{DetailType, DomainEvent, EventSink, EventSource, Unpublished};
pub use identity::{AdminEmail, AdminId, AdminRef, AdminUser, IdToken, Identity, VerifiedAdmin};
pub use item_store::{Condition, Item, ItemKey, ItemStore, Page, Query, SortKeyCondition, WriteOp};
pub use key_vault::{KeyInfo, KeySpec, KeyState, KeyVault, adopt_unnamed_key, has_tags};
pub use registry::{Registry, TenantFilter, TenantPage, UsageDay, UsageDelta, total_usage};
pub use role_issuer::{
    PolicyDocument, PolicyStatement, RoleInfo, RoleIssuer, RoleSpec, RoleSummary,
};
pub use stream_trigger::{
    FunctionArn, StreamTriggers, TriggerInfo, TriggerSpec, TriggerState, stream_table_arn,
    trigger_id_of_arn, trigger_of,
};
pub use table_admin::{TableAdmin, TableInfo, TableStatus};
