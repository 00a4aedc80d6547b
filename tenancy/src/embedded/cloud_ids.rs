//! The embedded "cloud account": fixed account and region, and the ARNs built from them, in
//! the same shapes AWS uses so that callers parsing ARNs behave identically on both backends.

pub(crate) const ACCOUNT: &str = "000000000000";
pub(crate) const REGION: &str = "local";

pub(crate) fn table_arn(name: &str) -> String {
    format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}")
}

pub(crate) fn key_arn(key_id: &str) -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}")
}

pub(crate) fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

pub(crate) fn trigger_arn(id: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{id}")
}
