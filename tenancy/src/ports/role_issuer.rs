//! `RoleIssuer`: one role per tenant whose policy names exactly that tenant's tables (with
//! their indexes and streams) and key, and store handles that act with that role's
//! permissions.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};
use crate::naming::Tags;
use crate::ports::item_store::ItemStore;

/// An IAM-style policy document. The embedded adapter enforces it; the AWS adapter sends it
/// verbatim as the role's inline policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDocument {
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "Statement")]
    pub statements: Vec<PolicyStatement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyStatement {
    #[serde(rename = "Sid")]
    pub sid: String,
    #[serde(rename = "Effect")]
    pub effect: String,
    /// Always written as a list; read from a list or a single string (IAM returns a
    /// document as it was written, and a hand-written one often has a single string).
    #[serde(rename = "Action", deserialize_with = "one_or_many")]
    pub actions: Vec<String>,
    #[serde(rename = "Resource", deserialize_with = "one_or_many")]
    pub resources: Vec<String>,
}

/// A policy field that IAM's grammar allows as one string or a list of them.
pub(crate) fn one_or_many<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

/// IAM's rule for role names: 1–64 of `[A-Za-z0-9+=,.@_-]`. Every adapter checks it before
/// it creates anything, so a bad name is `Invalid` everywhere.
pub fn validate_role_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "role name {name:?} must be 1 to 64 characters of letters, digits and +=,.@_-"
        )))
    }
}

/// What the tenant role may do with the items of its tables and their indexes.
pub const DYNAMODB_ITEM_ACTIONS: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
];

/// What the tenant role may do with its tables' streams: read them, nothing else.
/// `dynamodb:ListStreams` is not among them: IAM only grants it on `*`, which would name
/// every table's streams in the account, so a reader is handed its stream ARN instead (the
/// platform reads it from the table's description).
pub const DYNAMODB_STREAM_ACTIONS: &[&str] = &[
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
];

pub const KMS_DATA_ACTIONS: &[&str] = &[
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "kms:DescribeKey",
];

/// The statement ids of [`PolicyDocument::tenant`].
pub const TABLES_SID: &str = "TenantTables";
pub const STREAMS_SID: &str = "TenantStreams";
pub const KEY_SID: &str = "TenantKey";

/// The resource suffixes under a table ARN: its indexes and its streams.
pub const INDEX_SUFFIX: &str = "/index/*";
pub const STREAM_SUFFIX: &str = "/stream/*";

impl PolicyDocument {
    /// The tenant policy, three statements: item actions on exactly these tables and their
    /// indexes; stream reads on exactly these tables' streams; data actions on exactly this
    /// key.
    ///
    /// Every table gets its stream resource, whether its spec streams or not: a table without
    /// a stream has no stream ARN for it to match, and a table that gains one later needs no
    /// change to the roles already issued.
    pub fn tenant(table_arns: &[&str], key_arn: &str) -> Self {
        let mut tables = Vec::new();
        let mut streams = Vec::new();
        for arn in table_arns {
            tables.push((*arn).to_owned());
            tables.push(format!("{arn}{INDEX_SUFFIX}"));
            streams.push(format!("{arn}{STREAM_SUFFIX}"));
        }
        let statement = |sid: &str, actions: &[&str], resources: Vec<String>| PolicyStatement {
            sid: sid.to_owned(),
            effect: "Allow".to_owned(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
            resources,
        };
        PolicyDocument {
            version: "2012-10-17".to_owned(),
            statements: vec![
                statement(TABLES_SID, DYNAMODB_ITEM_ACTIONS, tables),
                statement(STREAMS_SID, DYNAMODB_STREAM_ACTIONS, streams),
                statement(KEY_SID, KMS_DATA_ACTIONS, vec![key_arn.to_owned()]),
            ],
        }
    }

    /// Table names this policy allows item actions on: the `…:table/{name}` resources (and
    /// `…:table/{name}/index/…`, folded into their table) of the statements that allow an
    /// item action. A table named only by its stream is not among them: reading a stream
    /// gives no access to the table's items.
    pub fn allowed_tables(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .statements
            .iter()
            .filter(|s| {
                s.effect == "Allow"
                    && s.actions
                        .iter()
                        .any(|a| DYNAMODB_ITEM_ACTIONS.contains(&a.as_str()))
            })
            .flat_map(|s| s.resources.iter())
            .filter_map(|r| r.split_once(":table/").map(|(_, rest)| rest))
            .filter_map(|rest| match rest.split_once('/') {
                None => Some(rest),
                Some((name, sub)) if sub.starts_with("index/") => Some(name),
                Some(_) => None,
            })
            .map(str::to_owned)
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleSpec {
    pub name: String,
    /// Principal ARN allowed to assume the role (the data plane's own role).
    pub trusted_principal: String,
    pub policy: PolicyDocument,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleInfo {
    pub spec: RoleSpec,
    pub arn: String,
}

/// A role as a listing reports it: its name and tags, read even when its policy is missing (a
/// role whose creation was cut short has none), so that a sweep can tell whose it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleSummary {
    pub name: String,
    pub arn: String,
    pub tags: Tags,
}

#[async_trait]
pub trait RoleIssuer: Send + Sync {
    /// Creates the role with its inline policy. Errors: `AlreadyExists`; `Invalid` for a name
    /// over 64 characters or outside IAM's alphabet.
    async fn create_role(&self, spec: &RoleSpec) -> Result<RoleInfo>;

    /// Errors: `NotFound`.
    async fn describe_role(&self, name: &str) -> Result<RoleInfo>;

    /// Deletes the role and its policy. Errors: `NotFound`.
    async fn delete_role(&self, name: &str) -> Result<()>;

    /// Replaces the role's inline policy with `policy` (what a repair puts back after the
    /// policy was changed out of band). Errors: `NotFound`.
    async fn put_role_policy(&self, name: &str, policy: &PolicyDocument) -> Result<()>;

    /// Every role whose name starts with `prefix`, with its tags, sorted by name.
    async fn list_roles(&self, prefix: &str) -> Result<Vec<RoleSummary>>;

    /// A store handle acting as the role: any table its policy does not name is refused with
    /// `AccessDenied`, before the backend is touched. Errors: `NotFound` when the role does not
    /// exist.
    async fn scoped_store(&self, role_name: &str) -> Result<Arc<dyn ItemStore>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_follow_iam_rules() {
        assert!(validate_role_name("spotlight-tenant-acme").is_ok());
        assert!(validate_role_name("a+=,.@_-").is_ok());
        assert!(validate_role_name(&"r".repeat(64)).is_ok());
        for bad in ["", "has space", "slash/no", "é", &"r".repeat(65)] {
            assert!(validate_role_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_statement_reads_a_single_action_or_resource_as_a_list_of_one() {
        let raw = r#"{"Sid":"S","Effect":"Allow","Action":"kms:Decrypt","Resource":["k1","k2"]}"#;
        let statement: PolicyStatement = serde_json::from_str(raw).unwrap();
        assert_eq!(statement.actions, ["kms:Decrypt"]);
        assert_eq!(statement.resources, ["k1", "k2"]);
        let raw = r#"{"Sid":"S","Effect":"Allow","Action":["a","b"],"Resource":"*"}"#;
        let statement: PolicyStatement = serde_json::from_str(raw).unwrap();
        assert_eq!(statement.actions, ["a", "b"]);
        assert_eq!(statement.resources, ["*"]);
    }

    #[test]
    fn a_policy_is_written_with_lists_and_reads_back_equal() {
        let policy = PolicyDocument::tenant(
            &["arn:aws:dynamodb:us-east-1:1:table/t"],
            "arn:aws:kms:us-east-1:1:key/k",
        );
        let raw = serde_json::to_string(&policy).unwrap();
        assert!(
            raw.contains(r#""Resource":["arn:aws:kms:us-east-1:1:key/k"]"#),
            "{raw}"
        );
        assert_eq!(
            serde_json::from_str::<PolicyDocument>(&raw).unwrap(),
            policy
        );
    }

    #[test]
    fn the_tenant_policy_names_tables_indexes_streams_and_key_in_three_statements() {
        let app = "arn:aws:dynamodb:us-east-1:1:table/p_tenant-a-app";
        let events = "arn:aws:dynamodb:us-east-1:1:table/p_tenant-a-events";
        let policy = PolicyDocument::tenant(&[app, events], "arn:aws:kms:us-east-1:1:key/k");
        let by_sid = |sid: &str| {
            policy
                .statements
                .iter()
                .find(|s| s.sid == sid)
                .unwrap_or_else(|| panic!("no statement {sid}"))
        };
        assert_eq!(policy.statements.len(), 3);
        assert_eq!(
            by_sid(TABLES_SID).resources,
            [
                app.to_owned(),
                format!("{app}/index/*"),
                events.to_owned(),
                format!("{events}/index/*")
            ]
        );
        let streams = by_sid(STREAMS_SID);
        assert_eq!(
            streams.resources,
            [format!("{app}/stream/*"), format!("{events}/stream/*")]
        );
        assert_eq!(streams.actions, DYNAMODB_STREAM_ACTIONS);
        assert!(!streams.actions.iter().any(|a| a == "dynamodb:ListStreams"));
        assert_eq!(by_sid(KEY_SID).resources, ["arn:aws:kms:us-east-1:1:key/k"]);
        assert_eq!(
            policy.allowed_tables(),
            ["p_tenant-a-app", "p_tenant-a-events"]
        );
    }

    #[test]
    fn a_table_named_only_by_its_stream_allows_no_item_access() {
        let mut policy = PolicyDocument::tenant(
            &["arn:aws:dynamodb:r:1:table/mine"],
            "arn:aws:kms:r:1:key/k",
        );
        // A stream resource in the item statement, and an item action on a stream: neither
        // makes the table's items reachable.
        policy.statements[0]
            .resources
            .push("arn:aws:dynamodb:r:1:table/theirs/stream/*".to_owned());
        policy.statements[1]
            .resources
            .push("arn:aws:dynamodb:r:1:table/other".to_owned());
        assert_eq!(policy.allowed_tables(), ["mine"]);
        policy.statements[1]
            .actions
            .push("dynamodb:GetItem".to_owned());
        assert_eq!(policy.allowed_tables(), ["mine", "other"]);
    }

    #[test]
    fn a_policy_field_of_another_shape_is_refused() {
        let raw = r#"{"Sid":"S","Effect":"Allow","Action":7,"Resource":"*"}"#;
        assert!(serde_json::from_str::<PolicyStatement>(raw).is_err());
    }
}
