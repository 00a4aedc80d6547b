//! moto in server mode on loopback, as every crate's AWS-side tests reach it:
//! `scripts/test.sh` starts it and sets [`ENDPOINT_VAR`]. A [`Deployment`] is what
//! `provisioner bootstrap` ensures (the registry table, the admins' user pool and its app
//! client) under a prefix of its own, so tests sharing one moto never see each other's
//! tables, keys, roles or users.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cognitoidentityprovider::types::AuthFlowType;

use crate::TablePrefix;
use crate::aws::{AwsClients, CognitoConfig, CognitoIdentity, UserPool};
use crate::backend::Backend;
use crate::ports::FunctionArn;

/// The environment variable naming moto's endpoint.
pub const ENDPOINT_VAR: &str = "SPOTLIGHT_TEST_MOTO_ENDPOINT";

/// The region every moto test uses (a Cognito issuer is named after it).
pub const REGION: &str = "us-east-1";

/// The password every admin signs in to moto's Cognito with.
const PASSWORD: &str = "Moto-Test-Passw0rd!";

/// moto's endpoint. Panics, saying how to start it, when [`ENDPOINT_VAR`] is not set.
pub fn endpoint() -> String {
    std::env::var(ENDPOINT_VAR).unwrap_or_else(|_| {
        panic!(
            "{ENDPOINT_VAR} is not set: the AWS-side tests run against moto; run \
             ./scripts/test.sh, or start scripts/moto.sh and export what it prints"
        )
    })
}

/// The SDK configuration of a test talking to moto, with the SDK's retries off (the ports'
/// retry layer retries, as in production).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_cognitoidentityprovider::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await
}

/// A deployment prefix of its own: `tag` and six random hex digits.
pub fn fresh_prefix(tag: &str) -> TablePrefix {
    let random = uuid::Uuid::new_v4().simple().to_string();
    TablePrefix::parse(&format!("{tag}{}", &random[..6])).expect("a valid prefix")
}

/// The environment a child process needs to talk to moto as deployment `prefix`.
pub fn process_env(prefix: &TablePrefix) -> Vec<(&'static str, String)> {
    vec![
        ("SPOTLIGHT_BACKEND", "aws".to_owned()),
        ("SPOTLIGHT_TABLE_PREFIX", prefix.as_str().to_owned()),
        ("AWS_ENDPOINT_URL", endpoint()),
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
    ]
}

/// The smallest zip archive (an empty one): what moto needs as a function's code to create it.
/// No function is ever run here — moto would need a container engine — so none needs code.
const EMPTY_ZIP: [u8; 22] = [
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// Creates Lambda function `name` (with a role of the same name for it to run as), as
/// Terraform deploys the stream handler, and returns its ARN: what the stream triggers of the
/// tests point at. Idempotent.
pub async fn deploy_function(clients: &AwsClients, name: &str) -> crate::Result<FunctionArn> {
    let failed = |doing: &str, e: String| crate::Error::unavailable(format!("{doing}: {e}"));
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let role = match clients
        .iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust)
        .send()
        .await
    {
        Ok(out) => out.role().map(|r| r.arn().to_owned()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_entity_already_exists_exception()) =>
        {
            let out = clients.iam.get_role().role_name(name).send().await;
            let out = out.map_err(|e| failed("reading the function's role", format!("{e:?}")))?;
            out.role().map(|r| r.arn().to_owned())
        }
        Err(e) => return Err(failed("creating the function's role", format!("{e:?}"))),
    }
    .ok_or_else(|| failed("creating the function's role", "no ARN".to_owned()))?;
    let created = clients
        .lambda
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .handler("bootstrap")
        .role(role)
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_smithy_types::Blob::new(EMPTY_ZIP.to_vec()))
                .build(),
        )
        .send()
        .await;
    let arn = match created {
        Ok(out) => out.function_arn().map(str::to_owned),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_conflict_exception()) =>
        {
            let out = clients
                .lambda
                .get_function()
                .function_name(name)
                .send()
                .await;
            let out = out.map_err(|e| failed("reading the function", format!("{e:?}")))?;
            out.configuration()
                .and_then(|c| c.function_arn())
                .map(str::to_owned)
        }
        Err(e) => return Err(failed("creating the function", format!("{e:?}"))),
    };
    FunctionArn::parse(&arn.ok_or_else(|| failed("creating the function", "no ARN".to_owned()))?)
}

/// A bootstrapped deployment on moto.
pub struct Deployment {
    pub prefix: TablePrefix,
    pub clients: AwsClients,
    pub pool: UserPool,
    pub cognito: CognitoConfig,
}

impl Deployment {
    /// Ensures deployment `prefix`'s registry table, user pool and app client, as
    /// `provisioner bootstrap` does.
    pub async fn bootstrap(prefix: TablePrefix) -> Deployment {
        let clients = AwsClients::from_config(&sdk_config().await);
        crate::aws::ensure_registry_table(&clients.dynamodb, &prefix.registry_table())
            .await
            .expect("the registry table");
        let pool =
            crate::aws::ensure_user_pool(&clients.cognito, &crate::aws::user_pool_name(&prefix))
                .await
                .expect("the user pool");
        let issuer = CognitoConfig::issuer_for(REGION, &pool.user_pool_id);
        let cognito = CognitoConfig {
            user_pool_id: pool.user_pool_id.clone(),
            client_id: pool.client_id.clone(),
            issuer,
            // moto serves the JWKS at its own endpoint, not under the issuer.
            jwks_url: format!("{}/{}/.well-known/jwks.json", endpoint(), pool.user_pool_id),
            jwks_refetch: Duration::from_secs(30),
        };
        Deployment {
            prefix,
            clients,
            pool,
            cognito,
        }
    }

    /// Every port on its AWS adapter, identity on the deployment's user pool, behind the
    /// retry layer: what `tenancy::open` serves for `SPOTLIGHT_BACKEND=aws`.
    pub fn backend(&self, data_plane_principal: &str) -> Backend {
        let mut backend = crate::aws::backend(&self.clients, &self.prefix, data_plane_principal);
        backend.identity = Arc::new(
            CognitoIdentity::new(
                self.clients.cognito.clone(),
                self.clients.dynamodb.clone(),
                self.prefix.registry_table(),
                &self.cognito,
            )
            .expect("the Cognito adapter"),
        );
        crate::retry::with_retries(backend, Arc::default())
    }

    /// Puts user `email` in `group` of the user pool (creating the group first), as an
    /// operator assigning admins by group does; tokens signed in afterwards list it in
    /// `cognito:groups`.
    pub async fn add_to_group(&self, email: &str, group: &str) -> crate::Result<()> {
        let failed = |doing: &str, e: String| crate::Error::unavailable(format!("{doing}: {e}"));
        let created = self
            .clients
            .cognito
            .create_group()
            .user_pool_id(&self.pool.user_pool_id)
            .group_name(group)
            .send()
            .await;
        if let Err(e) = created {
            let exists = e
                .as_service_error()
                .is_some_and(|e| e.is_group_exists_exception());
            if !exists {
                return Err(failed("creating the group", format!("{e:?}")));
            }
        }
        self.clients
            .cognito
            .admin_add_user_to_group()
            .user_pool_id(&self.pool.user_pool_id)
            .username(email)
            .group_name(group)
            .send()
            .await
            .map_err(|e| failed("adding the user to the group", format!("{e:?}")))?;
        Ok(())
    }

    /// Signs invited admin `email` in to the user pool (setting a permanent password first,
    /// as an admin does after the invitation's temporary one) and returns the ID token.
    pub async fn sign_in(&self, email: &str) -> crate::Result<String> {
        sign_in(&self.clients.cognito, &self.pool, email).await
    }
}

/// Signs `email` in to `pool` with a password set for it first; returns the ID token.
pub async fn sign_in(
    cognito: &aws_sdk_cognitoidentityprovider::Client,
    pool: &UserPool,
    email: &str,
) -> crate::Result<String> {
    let refused = |e: String| crate::Error::access_denied(e);
    cognito
        .admin_set_user_password()
        .user_pool_id(&pool.user_pool_id)
        .username(email)
        .password(PASSWORD)
        .permanent(true)
        .send()
        .await
        .map_err(|e| refused(format!("setting the password: {e:?}")))?;
    let out = cognito
        .admin_initiate_auth()
        .user_pool_id(&pool.user_pool_id)
        .client_id(&pool.client_id)
        .auth_flow(AuthFlowType::AdminUserPasswordAuth)
        .auth_parameters("USERNAME", email)
        .auth_parameters("PASSWORD", PASSWORD)
        .send()
        .await
        .map_err(|e| refused(format!("signing in: {e:?}")))?;
    out.authentication_result()
        .and_then(|r| r.id_token())
        .map(str::to_owned)
        .ok_or_else(|| refused("sign-in returned no ID token".to_owned()))
}
