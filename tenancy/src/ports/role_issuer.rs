//! `RoleIssuer`: one role per tenant whose policy names exactly that tenant's tables and key,
//! and store handles that act with that role's permissions.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;
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
    #[serde(rename = "Action")]
    pub actions: Vec<String>,
    #[serde(rename = "Resource")]
    pub resources: Vec<String>,
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

#[async_trait]
pub trait RoleIssuer: Send + Sync {
    /// Creates the role with its inline policy. Errors: `AlreadyExists`; `Invalid` for a name
    /// over 64 characters or outside IAM's alphabet.
    async fn create_role(&self, spec: &RoleSpec) -> Result<RoleInfo>;

    /// Errors: `NotFound`.
    async fn describe_role(&self, name: &str) -> Result<RoleInfo>;

    /// Deletes the role and its policy. Errors: `NotFound`.
    async fn delete_role(&self, name: &str) -> Result<()>;

    /// A store handle acting as the role: any table its policy does not name is refused with
    /// `AccessDenied`, before the backend is touched. Errors: `NotFound` when the role does not
    /// exist.
    async fn scoped_store(&self, role_name: &str) -> Result<Arc<dyn ItemStore>>;
}
