//! `StreamTriggers`: the link from a table's change stream to the function that folds it — on
//! AWS a Lambda event source mapping (the tenant's events table's stream → the data plane's
//! stream handler), embedded a catalog row with the same rules.
//!
//! A trigger is found by its stream and its function, never by a name of its own: Lambda
//! gives a mapping only a generated id. At most one trigger links a stream to a function.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::naming::Tags;

/// Records handed to the function per invocation: DynamoDB's default, and enough for one
/// outbox fold to take a whole ingest batch's records.
pub const BATCH_SIZE: u32 = 100;
/// Seconds the stream gathers records before invoking: the fold is triggered within about a
/// second of an event, and a burst is folded in one invocation instead of one per record.
pub const BATCHING_WINDOW_SECS: u32 = 1;

/// A trigger as planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerSpec {
    /// The stream whose records trigger the function (a DynamoDB table's latest stream:
    /// `arn:…:table/{name}/stream/{label}`).
    pub stream_arn: String,
    /// The function invoked (`arn:…:lambda:{region}:{account}:function:{name}`).
    pub function: FunctionArn,
    pub batch_size: u32,
    pub batching_window_secs: u32,
    pub tags: Tags,
}

/// Whether a trigger passes records on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerState {
    /// Creating, enabling, enabled or updating: records flow (or will, once it settles).
    Enabled,
    /// Disabled or disabling: records stay in the stream.
    Disabled,
    Deleting,
}

/// A trigger as the backend reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerInfo {
    /// The backend's id (Lambda's mapping UUID); what [`StreamTriggers::delete_trigger`] takes.
    pub id: String,
    pub arn: String,
    pub spec: TriggerSpec,
    pub state: TriggerState,
}

/// A Lambda function's unqualified ARN, checked for its shape:
/// `arn:{partition}:lambda:{region}:{account}:function:{name}`, the name 1–64 of
/// `[A-Za-z0-9_-]`. A version or alias qualifier is refused: a trigger must follow the
/// function as it is deployed, not a frozen version of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FunctionArn(String);

impl FunctionArn {
    /// Errors: `Invalid`, saying which part of the ARN is wrong.
    pub fn parse(raw: &str) -> Result<Self> {
        let invalid = |why: &str| {
            Error::invalid(format!(
                "{raw:?} is not a Lambda function ARN \
                 (arn:aws:lambda:REGION:ACCOUNT:function:NAME): {why}"
            ))
        };
        let parts: Vec<&str> = raw.split(':').collect();
        let [arn, partition, service, region, account, kind, name] = parts.as_slice() else {
            return Err(invalid(if parts.len() == 8 {
                "a qualified ARN (version or alias) is not accepted"
            } else {
                "it does not have seven ':'-separated parts"
            }));
        };
        if *arn != "arn" || partition.is_empty() || *service != "lambda" || *kind != "function" {
            return Err(invalid(
                "it must start arn:PARTITION:lambda: and name a function",
            ));
        }
        if region.is_empty() {
            return Err(invalid("the region is empty"));
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("the account is not 12 digits"));
        }
        let name_ok = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(invalid("the function name is not 1-64 of A-Z a-z 0-9 - _"));
        }
        Ok(FunctionArn(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The function's name, the ARN's last part.
    pub fn name(&self) -> &str {
        self.0.rsplit(':').next().unwrap_or_default()
    }
}

impl std::fmt::Display for FunctionArn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for FunctionArn {
    type Error = Error;
    fn try_from(raw: String) -> Result<Self> {
        FunctionArn::parse(&raw)
    }
}

impl From<FunctionArn> for String {
    fn from(arn: FunctionArn) -> String {
        arn.0
    }
}

/// The table a DynamoDB stream ARN (`arn:…:table/{name}/stream/{label}`) belongs to, as the
/// table's ARN, or `None` for anything else.
pub fn stream_table_arn(stream_arn: &str) -> Option<&str> {
    let (table, label) = stream_arn.rsplit_once("/stream/")?;
    (!label.is_empty() && !label.contains('/') && table.contains(":table/")).then_some(table)
}

/// The id of the trigger whose ARN is `arn` (its last `:`-separated part: Lambda's
/// `…:event-source-mapping:{uuid}`).
pub fn trigger_id_of_arn(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

/// The trigger linking `stream` to `function`, if there is one: at most one can be.
pub async fn trigger_of(
    triggers: &dyn StreamTriggers,
    stream: &str,
    function: &FunctionArn,
) -> Result<Option<TriggerInfo>> {
    Ok(triggers
        .triggers_of_stream(stream)
        .await?
        .into_iter()
        .find(|t| t.spec.function == *function))
}

#[async_trait]
pub trait StreamTriggers: Send + Sync {
    /// Links the stream to the function. Errors: `AlreadyExists` when a trigger links this
    /// stream to this function already (whatever its settings); `NotFound` when the stream
    /// (or, where the backend can tell, the function) does not exist; `Invalid` for settings
    /// the backend refuses.
    async fn create_trigger(&self, spec: &TriggerSpec) -> Result<TriggerInfo>;

    /// Every trigger of the stream, whatever its function, in id order. A trigger being
    /// deleted may still be listed for a while, `Deleting` (Lambda deletes in the background;
    /// the embedded adapter at once).
    async fn triggers_of_stream(&self, stream_arn: &str) -> Result<Vec<TriggerInfo>>;

    /// The trigger with this id, wherever its stream (the stream may be gone).
    /// Errors: `NotFound`.
    async fn describe_trigger(&self, id: &str) -> Result<TriggerInfo>;

    /// Removes the trigger; records already handed to the function are not taken back.
    /// Errors: `NotFound`; `Unavailable` (retryable) while the trigger is still being created
    /// or updated.
    async fn delete_trigger(&self, id: &str) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_arn_is_unqualified_and_well_formed() {
        let ok =
            FunctionArn::parse("arn:aws:lambda:eu-west-1:123456789012:function:fold-1_a").unwrap();
        assert_eq!(ok.name(), "fold-1_a");
        for bad in [
            "",
            "fold",
            "arn:aws:lambda:eu-west-1:123456789012:function:fold:live",
            "arn:aws:lambda:eu-west-1:123456789012:layer:fold",
            "arn:aws:sqs:eu-west-1:123456789012:function:fold",
            "arn:aws:lambda::123456789012:function:fold",
            "arn:aws:lambda:eu-west-1:1234:function:fold",
            "arn:aws:lambda:eu-west-1:123456789012:function:",
            "arn:aws:lambda:eu-west-1:123456789012:function:fold.js",
        ] {
            let e = FunctionArn::parse(bad).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Invalid, "{bad}");
            assert!(e.message().contains("not a Lambda function ARN"), "{e}");
        }
        let qualified = FunctionArn::parse("arn:aws:lambda:eu-west-1:123456789012:function:fold:3")
            .unwrap_err();
        assert!(qualified.message().contains("qualified"), "{qualified}");
    }

    #[test]
    fn a_stream_arn_names_its_table() {
        assert_eq!(
            stream_table_arn("arn:aws:dynamodb:r:1:table/t-events/stream/2026-12-02T10:00:00.000"),
            Some("arn:aws:dynamodb:r:1:table/t-events")
        );
        assert_eq!(
            stream_table_arn("arn:aws:dynamodb:r:1:table/t-events"),
            None
        );
        assert_eq!(
            stream_table_arn("arn:aws:dynamodb:r:1:table/t/stream/"),
            None
        );
        assert_eq!(stream_table_arn("arn:aws:sqs:r:1:q/stream/x"), None);
    }
}
