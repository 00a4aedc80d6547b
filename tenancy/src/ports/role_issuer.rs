//! `RoleIssuer`: one role per tenant whose policy names exactly that tenant's tables and key,
//! and store handles that act with that role's permissions.

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

pub const KMS_DATA_ACTIONS: &[&str] = &[
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "kms:DescribeKey",
];

impl PolicyDocument {
    /// The tenant policy: item actions on exactly these tables and their indexes, and data
    /// actions on exactly this key.
    pub fn tenant(table_arns: &[&str], key_arn: &str) -> Self {
        let mut tables = Vec::new();
        for arn in table_arns {
            tables.push((*arn).to_owned());
            tables.push(format!("{arn}/index/*"));
        }
        PolicyDocument {
            version: "2012-10-17".to_owned(),
            statements: vec![
                PolicyStatement {
                    sid: "TenantTables".to_owned(),
                    effect: "Allow".to_owned(),
                    actions: DYNAMODB_ITEM_ACTIONS
                        .iter()
                        .map(|a| (*a).to_owned())
                        .collect(),
                    resources: tables,
                },
                PolicyStatement {
                    sid: "TenantKey".to_owned(),
                    effect: "Allow".to_owned(),
                    actions: KMS_DATA_ACTIONS.iter().map(|a| (*a).to_owned()).collect(),
                    resources: vec![key_arn.to_owned()],
                },
            ],
        }
    }

    /// Table names this policy allows item actions on (`…:table/{name}` resources, index
    /// resources folded into their table).
    pub fn allowed_tables(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .statements
            .iter()
            .filter(|s| s.effect == "Allow" && s.actions.iter().any(|a| a.starts_with("dynamodb:")))
            .flat_map(|s| s.resources.iter())
            .filter_map(|r| r.split_once(":table/").map(|(_, rest)| rest))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_owned())
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
    fn a_policy_field_of_another_shape_is_refused() {
        let raw = r#"{"Sid":"S","Effect":"Allow","Action":7,"Resource":"*"}"#;
        assert!(serde_json::from_str::<PolicyStatement>(raw).is_err());
    }
}
