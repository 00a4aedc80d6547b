//! [`StreamTriggers`] on Lambda event source mappings: a DynamoDB stream → a function, reading
//! from the stream's start (`TRIM_HORIZON`: a new table's first records are not skipped), with
//! the tenant's tags on the mapping itself so that cleanup can check whose it is.
//!
//! Lambda refuses a second mapping of one stream to one function with
//! `ResourceConflictException`; this adapter looks first as well, so the port's
//! `AlreadyExists` holds against servers that do not refuse it (moto). Lambda's answer to a
//! create does not carry the tags: they are read with `ListTags` on the mapping's ARN.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::types::{EventSourceMappingConfiguration, EventSourcePosition};

use crate::aws::errors::sdk_error;
use crate::aws::pacing::{ControlCall, Pacer};
use crate::error::{Error, ErrorKind, Result};
use crate::naming::Tags;
use crate::ports::stream_trigger::{
    FunctionArn, StreamTriggers, TriggerInfo, TriggerSpec, TriggerState, trigger_of,
};

/// Lambda's codes for "exists already" on a create, and for "another operation is in
/// progress" or "still being created or updated" on a delete.
const CONFLICT: &[&str] = &["ResourceConflictException", "ResourceInUseException"];

pub struct LambdaStreamTriggers {
    lambda: aws_sdk_lambda::Client,
    pacer: Arc<Pacer>,
}

impl LambdaStreamTriggers {
    pub fn new(lambda: aws_sdk_lambda::Client) -> Self {
        LambdaStreamTriggers {
            lambda,
            pacer: Arc::default(),
        }
    }

    /// Every call waits on `pacer` (shared by every adapter of the process).
    pub fn paced(self, pacer: Arc<Pacer>) -> Self {
        LambdaStreamTriggers { pacer, ..self }
    }

    async fn tags(&self, arn: &str) -> Result<Tags> {
        self.pacer.ready(ControlCall::LambdaControl).await;
        let out = self
            .lambda
            .list_tags()
            .resource(arn)
            .send()
            .await
            .map_err(|e| sdk_error(format!("listing the tags of trigger {arn}"), e))?;
        Ok(out
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    /// The port's view of a mapping Lambda described, with its tags read from the mapping.
    async fn info(&self, mapping: &EventSourceMappingConfiguration) -> Result<TriggerInfo> {
        let missing = |field: &str| {
            Error::unavailable(format!(
                "Lambda described an event source mapping without its {field}"
            ))
        };
        let id = mapping.uuid().ok_or_else(|| missing("UUID"))?.to_owned();
        let arn = mapping
            .event_source_mapping_arn()
            .ok_or_else(|| missing("ARN"))?
            .to_owned();
        let function = mapping
            .function_arn()
            .ok_or_else(|| missing("function ARN"))?;
        let function = FunctionArn::parse(function).map_err(|e| {
            Error::unavailable(format!("event source mapping {id}: {}", e.message()))
        })?;
        let state = match mapping.state() {
            Some("Disabled" | "Disabling") => TriggerState::Disabled,
            Some("Deleting") => TriggerState::Deleting,
            // Creating, Enabling, Enabled, Updating (and states Lambda may add) pass records
            // on, or will once they settle.
            _ => TriggerState::Enabled,
        };
        Ok(TriggerInfo {
            spec: TriggerSpec {
                stream_arn: mapping
                    .event_source_arn()
                    .ok_or_else(|| missing("event source ARN"))?
                    .to_owned(),
                function,
                batch_size: mapping.batch_size().unwrap_or_default().max(0) as u32,
                batching_window_secs: mapping
                    .maximum_batching_window_in_seconds()
                    .unwrap_or_default()
                    .max(0) as u32,
                tags: self.tags(&arn).await?,
            },
            id,
            arn,
            state,
        })
    }
}

/// The mapping a Create or Get answer describes (two output types with the same fields), as
/// a listing describes it.
macro_rules! mapping_of {
    ($out:expr) => {{
        let out = &$out;
        EventSourceMappingConfiguration::builder()
            .set_uuid(out.uuid().map(str::to_owned))
            .set_event_source_mapping_arn(out.event_source_mapping_arn().map(str::to_owned))
            .set_event_source_arn(out.event_source_arn().map(str::to_owned))
            .set_function_arn(out.function_arn().map(str::to_owned))
            .set_state(out.state().map(str::to_owned))
            .set_batch_size(out.batch_size())
            .set_maximum_batching_window_in_seconds(out.maximum_batching_window_in_seconds())
            .build()
    }};
}

/// `err` as a neutral error, with Lambda's conflict codes read as `conflict` says.
fn lambda_error<E>(
    what: String,
    err: SdkError<E, aws_sdk_lambda::config::http::HttpResponse>,
    conflict: ErrorKind,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let is_conflict = err
        .as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| CONFLICT.contains(&code));
    let error = sdk_error(what, err);
    if is_conflict {
        Error::new(conflict, error.message().to_owned())
    } else {
        error
    }
}

fn as_i32(n: u32, what: &str) -> Result<i32> {
    i32::try_from(n).map_err(|_| Error::invalid(format!("{what} {n} is out of range")))
}

#[async_trait]
impl StreamTriggers for LambdaStreamTriggers {
    async fn create_trigger(&self, spec: &TriggerSpec) -> Result<TriggerInfo> {
        let stream = &spec.stream_arn;
        let function = &spec.function;
        if trigger_of(self, stream, function).await?.is_some() {
            return Err(Error::already_exists(format!(
                "a trigger of stream {stream} to function {function} already exists"
            )));
        }
        let mut create = self
            .lambda
            .create_event_source_mapping()
            .event_source_arn(stream)
            .function_name(function.as_str())
            .starting_position(EventSourcePosition::TrimHorizon)
            .batch_size(as_i32(spec.batch_size, "batch size")?)
            .maximum_batching_window_in_seconds(as_i32(
                spec.batching_window_secs,
                "batching window",
            )?)
            .enabled(true);
        for (key, value) in &spec.tags {
            create = create.tags(key, value);
        }
        self.pacer.ready(ControlCall::LambdaControl).await;
        let out = create.send().await.map_err(|e| {
            lambda_error(
                format!("creating a trigger of stream {stream} to function {function}"),
                e,
                ErrorKind::AlreadyExists,
            )
        })?;
        let mapping = mapping_of!(out);
        self.info(&mapping).await
    }

    async fn triggers_of_stream(&self, stream_arn: &str) -> Result<Vec<TriggerInfo>> {
        let mut found = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            self.pacer.ready(ControlCall::LambdaControl).await;
            let page = self
                .lambda
                .list_event_source_mappings()
                .event_source_arn(stream_arn)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| {
                    sdk_error(format!("listing the triggers of stream {stream_arn}"), e)
                })?;
            for mapping in page.event_source_mappings() {
                match self.info(mapping).await {
                    // Deleted between the listing and the read of its tags: no longer there.
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    info => found.push(info?),
                }
            }
            match page.next_marker() {
                Some(next) if !next.is_empty() => marker = Some(next.to_owned()),
                _ => break,
            }
        }
        found.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(found)
    }

    async fn describe_trigger(&self, id: &str) -> Result<TriggerInfo> {
        self.pacer.ready(ControlCall::LambdaControl).await;
        let out = self
            .lambda
            .get_event_source_mapping()
            .uuid(id)
            .send()
            .await
            .map_err(|e| sdk_error(format!("reading trigger {id}"), e))?;
        let mapping = mapping_of!(out);
        self.info(&mapping).await
    }

    async fn delete_trigger(&self, id: &str) -> Result<()> {
        self.pacer.ready(ControlCall::LambdaControl).await;
        let out = self
            .lambda
            .delete_event_source_mapping()
            .uuid(id)
            .send()
            .await
            .map_err(|e| {
                // A mapping still being created or updated cannot be deleted yet: retryable.
                lambda_error(format!("deleting trigger {id}"), e, ErrorKind::Unavailable)
            })?;
        // Lambda answers a deletion with the mapping it deleted. An answer without one
        // deleted nothing: moto's bare `404 {}` for an unknown id, which the SDK cannot tell
        // from success, reads as this.
        if out.uuid().is_none() {
            return Err(Error::not_found(format!("trigger {id} does not exist")));
        }
        Ok(())
    }
}
