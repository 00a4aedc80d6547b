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
//! - `event_sink`: [`crate::ports::EventSink`] on EventBridge PutEvents.
//! - `stream_trigger`: [`crate::ports::StreamTriggers`] on Lambda event source mappings.
//! - `registry`: [`crate::ports::Registry`] on one DynamoDB table (`{prefix}_tenants-metadata`).
//! - [`pacing`]: the client-side limiter every adapter waits on before a control-plane call.
//! - [`wire`]: interceptors counting the calls on the wire and injecting faults, installed
//!   only through [`AwsClients::from_config_with`].
//!
//! The SDK's own retries are turned off ([`AwsClients::load`]): the retry layer around the
//! ports (`crate::retry`) is the one place a call is retried, so the two never multiply.

mod errors;
mod event_sink;
mod identity;
mod item_store;
mod key_vault;
pub mod pacing;
mod registry;
mod role_issuer;
mod stream_trigger;
mod table_admin;
pub mod wire;

pub use event_sink::{EventBridgeSink, EventBusName};
pub use identity::{
    CognitoConfig, CognitoIdentity, UnconfiguredIdentity, UserPool, ensure_user_pool,
    user_pool_name,
};
pub use item_store::DynamoItemStore;
pub use key_vault::KmsKeyVault;
pub use pacing::{ControlCall, Pacer, PacingLimits};
pub use registry::{DynamoRegistry, ensure_table as ensure_registry_table};
pub use role_issuer::{IamRoleIssuer, trust_policy_document};
pub use stream_trigger::LambdaStreamTriggers;
pub use table_admin::DynamoTableAdmin;

use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;

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
/// Terraform creates). Domain events go to the account's default bus. The ports are returned
/// bare: `tenancy::open` puts the retry layer around them (and names the configured bus).
pub fn backend(clients: &AwsClients, prefix: &TablePrefix, data_plane_principal: &str) -> Backend {
    let items: Arc<dyn crate::ports::ItemStore> =
        Arc::new(DynamoItemStore::new(clients.dynamodb.clone()));
    let pacer = clients.pacer.clone();
    Backend {
        registry: Arc::new(DynamoRegistry::new(
            clients.dynamodb.clone(),
            prefix.registry_table(),
        )),
        tables: Arc::new(DynamoTableAdmin::new(clients.dynamodb.clone()).paced(pacer.clone())),
        keys: Arc::new(KmsKeyVault::new(clients.kms.clone()).paced(pacer.clone())),
        roles: Arc::new(
            IamRoleIssuer::new(clients.iam.clone(), items.clone()).paced(pacer.clone()),
        ),
        triggers: Arc::new(LambdaStreamTriggers::new(clients.lambda.clone()).paced(pacer)),
        items,
        // `tenancy::open` replaces it when the Cognito settings are given.
        identity: Arc::new(UnconfiguredIdentity),
        event_sink: Arc::new(EventBridgeSink::new(
            clients.eventbridge.clone(),
            EventBusName::default(),
        )),
        data_plane_principal: data_plane_principal.to_owned(),
        capabilities: CAPABILITIES,
    }
}

/// The SDK clients every AWS adapter uses, from one configuration load, and the [`Pacer`]
/// they all wait on.
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub eventbridge: aws_sdk_eventbridge::Client,
    pub iam: aws_sdk_iam::Client,
    pub kms: aws_sdk_kms::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub pacer: Arc<Pacer>,
}

/// What [`AwsClients::from_config_with`] installs on every client besides the defaults.
#[derive(Debug, Clone, Default)]
pub struct WireHooks {
    /// Records every call sent.
    pub log: Option<Arc<wire::CallLog>>,
    /// Answers chosen calls with faults (tests only).
    pub faults: Option<Arc<wire::FaultPlan>>,
}

impl AwsClients {
    /// The region the clients were configured for, or `us-east-1` when none was (the region
    /// a Cognito issuer is then named after).
    pub fn region(&self) -> String {
        self.cognito
            .config()
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".to_owned())
    }

    /// [`AwsClients::load_paced`] at AWS's published default rates.
    pub async fn load() -> AwsClients {
        AwsClients::load_paced(PacingLimits::default()).await
    }

    /// Loads the shared configuration (region, credentials, endpoint from the environment, as
    /// every AWS SDK does) with SDK retries off, and builds the clients from it, paced by
    /// `limits`.
    pub async fn load_paced(limits: PacingLimits) -> AwsClients {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::disabled())
            .load()
            .await;
        AwsClients::from_config_with(&config, limits, WireHooks::default())
    }

    /// The clients over an already loaded configuration (tests point it at a local endpoint),
    /// at AWS's published default rates.
    pub fn from_config(config: &aws_config::SdkConfig) -> AwsClients {
        AwsClients::from_config_with(config, PacingLimits::default(), WireHooks::default())
    }

    /// The clients over `config`, paced by `limits`, with `hooks` installed on each.
    pub fn from_config_with(
        config: &aws_config::SdkConfig,
        limits: PacingLimits,
        hooks: WireHooks,
    ) -> AwsClients {
        let http_client = hooks.faults.as_ref().map(|_| {
            let inner = default_http_client().expect(
                "the SDK's default HTTPS client is compiled in (feature default-https-client)",
            );
            wire::FaultPlan::http_client(inner)
        });
        let mut interceptors: Vec<SharedInterceptor> = Vec::new();
        if let Some(faults) = &hooks.faults {
            interceptors.push(SharedInterceptor::new(wire::FaultInterceptor(
                faults.clone(),
            )));
        }
        if let Some(log) = &hooks.log {
            interceptors.push(SharedInterceptor::new(wire::LogInterceptor(log.clone())));
        }
        macro_rules! client {
            ($sdk:ident) => {{
                let mut builder = $sdk::config::Builder::from(config);
                if let Some(http) = &http_client {
                    builder = builder.http_client(http.clone());
                }
                for interceptor in &interceptors {
                    builder.push_interceptor(interceptor.clone());
                }
                $sdk::Client::from_conf(builder.build())
            }};
        }
        AwsClients {
            cognito: client!(aws_sdk_cognitoidentityprovider),
            dynamodb: client!(aws_sdk_dynamodb),
            eventbridge: client!(aws_sdk_eventbridge),
            iam: client!(aws_sdk_iam),
            kms: client!(aws_sdk_kms),
            lambda: client!(aws_sdk_lambda),
            pacer: Arc::new(Pacer::new(limits)),
        }
    }
}

/// The HTTP client the SDK would use by default, for the fault injector to wrap.
fn default_http_client() -> Option<aws_smithy_runtime_api::client::http::SharedHttpClient> {
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
    use aws_smithy_runtime_api::client::runtime_plugin::RuntimePlugin;
    let plugin = aws_smithy_runtime::client::defaults::default_http_client_plugin_v2(
        BehaviorVersion::latest(),
    )?;
    plugin
        .runtime_components(&RuntimeComponentsBuilder::new("spotlight-wire"))
        .http_client()
}
