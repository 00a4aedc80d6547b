//! AWS adapters: the ports on the AWS SDK for Rust, against AWS itself or any AWS-compatible
//! endpoint (LocalStack, moto) by configuration alone (`AWS_ENDPOINT_URL`, `AWS_REGION`, the
//! standard credential chain).
//!
//! - [`AwsClients`]: the SDK clients, built once from one `aws_config` load and shared.
//! - `errors`: every SDK failure becomes a neutral [`crate::ErrorKind`] at this edge.
//! - `key_vault`: [`crate::ports::KeyVault`] on KMS.
//! - `table_admin`: [`crate::ports::TableAdmin`] on the DynamoDB control plane.
//! - `item_store`: [`crate::ports::ItemStore`] on DynamoDB items.
//! - `role_issuer`: [`crate::ports::RoleIssuer`] on IAM.
//! - `identity`: [`crate::ports::Identity`] on a Cognito user pool (admin records in the
//!   registry table).
//! - `registry`: [`crate::ports::Registry`] on one DynamoDB table (`{prefix}_tenants-metadata`).
//!
//! The SDK's own retries are turned off ([`AwsClients::load`]): the retry layer around the
//! ports (`crate::retry`) is the one place a call is retried, so the two never multiply.

mod errors;
mod identity;
mod item_store;
mod key_vault;
mod registry;
mod role_issuer;
mod table_admin;

pub use identity::{
    CognitoConfig, CognitoIdentity, UnconfiguredIdentity, UserPool, ensure_user_pool,
    user_pool_name,
};
pub use item_store::DynamoItemStore;
pub use key_vault::KmsKeyVault;
pub use registry::{DynamoRegistry, ensure_table as ensure_registry_table};
pub use role_issuer::IamRoleIssuer;
pub use table_admin::DynamoTableAdmin;

use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;

use crate::backend::{Backend, Capabilities};
use crate::naming::TablePrefix;

/// What the AWS adapters can do, against AWS itself (see [`Capabilities`]' table).
pub const CAPABILITIES: Capabilities = Capabilities {
    min_key_deletion_window_days: key_vault::MIN_WINDOW_DAYS,
    destroys_keys_itself: true,
    cross_tenant_transactions: true,
    disabled_key_denies_item_access: false,
    pending_deletion_refuses_key_use: true,
    mints_admin_tokens: false,
};

/// One adapter per port on AWS, over `clients`, for the deployment with `prefix` (its
/// registry is the table `{prefix}_tenants-metadata`, which `provisioner bootstrap` or
/// Terraform creates). The ports are returned bare: `tenancy::open` puts the retry layer
/// around them.
pub fn backend(clients: &AwsClients, prefix: &TablePrefix, data_plane_principal: &str) -> Backend {
    let items: Arc<dyn crate::ports::ItemStore> =
        Arc::new(DynamoItemStore::new(clients.dynamodb.clone()));
    Backend {
        registry: Arc::new(DynamoRegistry::new(
            clients.dynamodb.clone(),
            prefix.registry_table(),
        )),
        tables: Arc::new(DynamoTableAdmin::new(clients.dynamodb.clone())),
        keys: Arc::new(KmsKeyVault::new(clients.kms.clone())),
        roles: Arc::new(IamRoleIssuer::new(clients.iam.clone(), items.clone())),
        items,
        // `tenancy::open` replaces it when the Cognito settings are given.
        identity: Arc::new(UnconfiguredIdentity),
        data_plane_principal: data_plane_principal.to_owned(),
        capabilities: CAPABILITIES,
    }
}

/// The SDK clients every AWS adapter uses, from one configuration load.
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub iam: aws_sdk_iam::Client,
    pub kms: aws_sdk_kms::Client,
}

impl AwsClients {
    /// Loads the shared configuration (region, credentials, endpoint from the environment, as
    /// every AWS SDK does) with SDK retries off, and builds the clients from it.
    pub async fn load() -> AwsClients {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::disabled())
            .load()
            .await;
        AwsClients::from_config(&config)
    }

    /// The clients over an already loaded configuration (tests point it at a local endpoint).
    pub fn from_config(config: &aws_config::SdkConfig) -> AwsClients {
        AwsClients {
            cognito: aws_sdk_cognitoidentityprovider::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            iam: aws_sdk_iam::Client::new(config),
            kms: aws_sdk_kms::Client::new(config),
        }
    }
}
