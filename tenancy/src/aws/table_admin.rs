//! [`TableAdmin`] on the DynamoDB control plane: on-demand tables with the plan's key schema,
//! the `gsi1` index (all attributes projected), SSE under the tenant's KMS key, TTL, point-in-time
//! recovery and tags — each created with its own call and read back from the table itself.
//!
//! A table is reported by what DynamoDB says of it (DescribeTable, ListTagsOfResource,
//! DescribeTimeToLive, DescribeContinuousBackups), never by what was asked for, so drift is
//! seen. One normalisation: the SSE key is always reported as the KMS key's ARN. DynamoDB
//! itself reports an ARN; an AWS-compatible server that reports the bare key id (moto does) has
//! the ARN rebuilt from the table's own partition, region and account — the key of a table's
//! SSE lives in the table's account and region. The plan names SSE keys by ARN, so a table it
//! created describes with no differences.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    PointInTimeRecoverySpecification, PointInTimeRecoveryStatus, Projection, ProjectionType,
    ScalarAttributeType, SseSpecification, SseType, StreamSpecification, StreamViewType,
    TableDescription, TableStatus as DynamoStatus, Tag, TimeToLiveSpecification, TimeToLiveStatus,
};

use crate::aws::errors::sdk_error;
use crate::aws::pacing::{ControlCall, Pacer};
use crate::error::{Error, ErrorKind, Result};
use crate::naming::Tags;
use crate::ports::table_admin::{TableAdmin, TableInfo, TableStatus};
use crate::table_plan::{IndexSpec, TableSpec};

/// Longest wait for a table to become active or to disappear. DynamoDB creates an on-demand
/// table with one index in well under a minute; past this the call fails `Unavailable`.
const MAX_WAIT: Duration = Duration::from_secs(300);
/// ListTables' page size (its maximum).
const LIST_PAGE: i32 = 100;

pub struct DynamoTableAdmin {
    dynamodb: aws_sdk_dynamodb::Client,
    pacer: Arc<Pacer>,
}

impl DynamoTableAdmin {
    pub fn new(dynamodb: aws_sdk_dynamodb::Client) -> Self {
        DynamoTableAdmin {
            dynamodb,
            pacer: Arc::default(),
        }
    }

    /// Control-plane calls wait on `pacer` (shared by every adapter of the process); a table
    /// operation holds one of its table-operation permits until its waiter is done.
    pub fn paced(self, pacer: Arc<Pacer>) -> Self {
        DynamoTableAdmin { pacer, ..self }
    }

    /// The table as DynamoDB describes it (`NotFound` when it does not exist).
    async fn description(&self, name: &str) -> Result<TableDescription> {
        self.pacer.ready(ControlCall::DynamoControl).await;
        let out = self
            .dynamodb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| sdk_error(format!("describing table {name}"), e))?;
        out.table.ok_or_else(|| {
            Error::unavailable(format!("DynamoDB described table {name} as nothing"))
        })
    }

    async fn tags(&self, name: &str, arn: &str) -> Result<Tags> {
        let mut tags = Tags::new();
        let mut token: Option<String> = None;
        loop {
            self.pacer.ready(ControlCall::DynamoControl).await;
            let out = self
                .dynamodb
                .list_tags_of_resource()
                .resource_arn(arn)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| sdk_error(format!("listing the tags of table {name}"), e))?;
            tags.extend(
                out.tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned())),
            );
            match out.next_token {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => return Ok(tags),
            }
        }
    }

    async fn ttl_attribute(&self, name: &str) -> Result<Option<String>> {
        self.pacer.ready(ControlCall::DynamoControl).await;
        let out = self
            .dynamodb
            .describe_time_to_live()
            .table_name(name)
            .send()
            .await
            .map_err(|e| sdk_error(format!("reading the TTL of table {name}"), e))?;
        Ok(out
            .time_to_live_description
            .and_then(|d| match d.time_to_live_status {
                Some(TimeToLiveStatus::Enabled) | Some(TimeToLiveStatus::Enabling) => {
                    d.attribute_name
                }
                _ => None,
            }))
    }

    async fn point_in_time_recovery(&self, name: &str) -> Result<bool> {
        self.pacer.ready(ControlCall::DynamoControl).await;
        let out = self
            .dynamodb
            .describe_continuous_backups()
            .table_name(name)
            .send()
            .await
            .map_err(|e| sdk_error(format!("reading the backups of table {name}"), e))?;
        Ok(out
            .continuous_backups_description
            .and_then(|d| d.point_in_time_recovery_description)
            .and_then(|p| p.point_in_time_recovery_status)
            == Some(PointInTimeRecoveryStatus::Enabled))
    }

    /// Everything the port reports of a described table.
    async fn info(&self, table: TableDescription) -> Result<TableInfo> {
        let name = table.table_name().unwrap_or_default().to_owned();
        let arn = table
            .table_arn()
            .ok_or_else(|| {
                Error::unavailable(format!("DynamoDB described table {name} without ARN"))
            })?
            .to_owned();
        let key_of = |schema: &[KeySchemaElement], key_type: KeyType| {
            schema
                .iter()
                .find(|k| *k.key_type() == key_type)
                .map(|k| k.attribute_name().to_owned())
                .unwrap_or_default()
        };
        let indexes = table
            .global_secondary_indexes()
            .iter()
            .map(|index| IndexSpec {
                name: index.index_name().unwrap_or_default().to_owned(),
                partition_key: key_of(index.key_schema(), KeyType::Hash),
                sort_key: key_of(index.key_schema(), KeyType::Range),
            })
            .collect();
        let sse_key = table
            .sse_description()
            .and_then(|sse| sse.kms_master_key_arn())
            .map(|key| key_arn(&arn, key));
        let status = match table.table_status() {
            Some(DynamoStatus::Creating) => TableStatus::Creating,
            Some(DynamoStatus::Deleting) => TableStatus::Deleting,
            // Active, or updating/archiving: the table exists and serves items.
            _ => TableStatus::Active,
        };
        // DynamoDB keeps naming the latest stream after the stream is turned off.
        let stream_arn = table
            .stream_specification()
            .filter(|s| s.stream_enabled())
            .and(table.latest_stream_arn())
            .map(str::to_owned);
        let spec = TableSpec {
            partition_key: key_of(table.key_schema(), KeyType::Hash),
            sort_key: key_of(table.key_schema(), KeyType::Range),
            indexes,
            ttl_attribute: self.ttl_attribute(&name).await?,
            sse_key,
            point_in_time_recovery: self.point_in_time_recovery(&name).await?,
            stream: table
                .stream_specification()
                .is_some_and(|s| s.stream_enabled()),
            tags: self.tags(&name, &arn).await?,
            name,
        };
        Ok(TableInfo {
            spec,
            arn,
            status,
            stream_arn,
        })
    }
}

/// `key` as a KMS key ARN: as is when it is one, else (a bare key id) in the partition, region
/// and account of the table ARN `table_arn` (`arn:{partition}:dynamodb:{region}:{account}:…`).
fn key_arn(table_arn: &str, key: &str) -> String {
    if key.starts_with("arn:") {
        return key.to_owned();
    }
    let parts: Vec<&str> = table_arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, _, region, account, _] => {
            format!("arn:{partition}:kms:{region}:{account}:key/{key}")
        }
        _ => key.to_owned(),
    }
}

fn build_error(name: &str) -> impl Fn(aws_sdk_dynamodb::error::BuildError) -> Error + '_ {
    move |e| Error::invalid(format!("table {name}: {e}"))
}

/// A waiter's failure as a neutral [`Error`]: its polling call's error as that call's; running
/// out of time, or a state the wait cannot leave, as `Unavailable`. (A macro: the two waiters'
/// error types are one generic enum the SDK does not name.)
macro_rules! wait_error {
    ($error:ty, $name:expr, $until:expr, $err:expr) => {{
        type WaitError = $error;
        let (name, until) = ($name, $until);
        match $err {
            WaitError::OperationFailed(failed) => sdk_error(
                format!("waiting for table {name} to {until}"),
                failed.into_error(),
            ),
            WaitError::ExceededMaxWait(_) => Error::unavailable(format!(
                "table {name} did not {until} within {} s",
                MAX_WAIT.as_secs()
            )),
            other => Error::unavailable(format!("waiting for table {name} to {until}: {other:?}")),
        }
    }};
}

fn key_schema(name: &str, pk: &str, sk: &str) -> Result<Vec<KeySchemaElement>> {
    [(pk, KeyType::Hash), (sk, KeyType::Range)]
        .into_iter()
        .map(|(attr, key_type)| {
            KeySchemaElement::builder()
                .attribute_name(attr)
                .key_type(key_type)
                .build()
                .map_err(build_error(name))
        })
        .collect()
}

/// The creation steps after CreateTable, shared by a creation and by the attempt that
/// finishes one cut short.
impl DynamoTableAdmin {
    /// Waits until `name` is active; returns its ARN and its stream's.
    async fn wait_active(&self, name: &str) -> Result<(String, Option<String>)> {
        let active = self
            .dynamodb
            .wait_until_table_exists()
            .table_name(name)
            .wait(MAX_WAIT)
            .await
            .map_err(|e| {
                wait_error!(
                    aws_sdk_dynamodb::waiters::table_exists::WaitUntilTableExistsError,
                    name,
                    "become active",
                    e
                )
            })?;
        let table = active.as_result().ok().and_then(|out| out.table());
        let arn = table.and_then(|t| t.table_arn()).ok_or_else(|| {
            Error::unavailable(format!("DynamoDB described table {name} without ARN"))
        })?;
        let stream_arn = table
            .filter(|t| t.stream_specification().is_some_and(|s| s.stream_enabled()))
            .and_then(|t| t.latest_stream_arn());
        Ok((arn.to_owned(), stream_arn.map(str::to_owned)))
    }

    /// Turns on the TTL and point-in-time recovery `spec` asks for, skipping what `current`
    /// (the table as it is, when known) has already: DynamoDB refuses to turn on a TTL that is
    /// on.
    async fn apply_settings(&self, spec: &TableSpec, current: Option<&TableSpec>) -> Result<()> {
        let name = spec.name.as_str();
        let ttl_done = current.is_some_and(|c| c.ttl_attribute == spec.ttl_attribute);
        if let Some(attr) = &spec.ttl_attribute
            && !ttl_done
        {
            self.pacer.ready(ControlCall::DynamoControl).await;
            self.dynamodb
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .enabled(true)
                        .attribute_name(attr)
                        .build()
                        .map_err(build_error(name))?,
                )
                .send()
                .await
                .map_err(|e| sdk_error(format!("turning on TTL of table {name}"), e))?;
        }
        let pitr_done = current.is_some_and(|c| c.point_in_time_recovery);
        if spec.point_in_time_recovery && !pitr_done {
            self.pacer.ready(ControlCall::DynamoControl).await;
            self.dynamodb
                .update_continuous_backups()
                .table_name(name)
                .point_in_time_recovery_specification(
                    PointInTimeRecoverySpecification::builder()
                        .point_in_time_recovery_enabled(true)
                        .build()
                        .map_err(build_error(name))?,
                )
                .send()
                .await
                .map_err(|e| {
                    sdk_error(
                        format!("turning on point-in-time recovery of table {name}"),
                        e,
                    )
                })?;
        }
        Ok(())
    }

    /// CreateTable found `spec`'s table there already. When it is an earlier attempt of this
    /// very creation, cut short after CreateTable (its answer lost, or the waiter or a setting
    /// failed) — the same tags and shape, with TTL and point-in-time recovery each either as
    /// planned or still off — the settings it did not reach are made now, so that the caller's
    /// ensure, on `AlreadyExists`, finds the table as planned. Any other table is left alone:
    /// it is not this creation's to change.
    async fn finish_cut_short(&self, spec: &TableSpec) -> Result<()> {
        let name = spec.name.as_str();
        let found = self.describe_table(name).await?;
        let current = match found.status {
            TableStatus::Deleting => return Ok(()),
            TableStatus::Creating => {
                self.wait_active(name).await?;
                self.describe_table(name).await?.spec
            }
            TableStatus::Active => found.spec,
        };
        if current == *spec || !is_cut_short_creation(&current, spec) {
            return Ok(());
        }
        tracing::warn!(
            table = name,
            "finishing a table creation cut short before its settings"
        );
        self.apply_settings(spec, Some(&current)).await
    }
}

/// Whether the table `current` can be `spec`'s own creation stopped before its settings:
/// everything CreateTable sets (name, keys, indexes, stream, encryption, tags) is as planned,
/// and TTL and point-in-time recovery are each as planned or not yet on.
fn is_cut_short_creation(current: &TableSpec, spec: &TableSpec) -> bool {
    let created = TableSpec {
        ttl_attribute: spec.ttl_attribute.clone(),
        point_in_time_recovery: spec.point_in_time_recovery,
        ..current.clone()
    };
    created == *spec
        && (current.ttl_attribute.is_none() || current.ttl_attribute == spec.ttl_attribute)
        && (!current.point_in_time_recovery || spec.point_in_time_recovery)
}

#[async_trait]
impl TableAdmin for DynamoTableAdmin {
    /// CreateTable (on demand, keys, `gsi1`, SSE, tags), waits until active, then turns on TTL
    /// and point-in-time recovery (DynamoDB takes neither in CreateTable). Should one of those
    /// fail, the table stays; describing it shows what is missing (drift to the provisioner),
    /// and creating it again is `AlreadyExists`.
    async fn create_table(&self, spec: &TableSpec) -> Result<TableInfo> {
        spec.validate()?;
        let name = spec.name.as_str();
        let mut attributes: Vec<&str> = vec![&spec.partition_key, &spec.sort_key];
        for index in &spec.indexes {
            attributes.extend([index.partition_key.as_str(), index.sort_key.as_str()]);
        }
        attributes.sort_unstable();
        attributes.dedup();
        let mut create = self
            .dynamodb
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(key_schema(name, &spec.partition_key, &spec.sort_key)?));
        for attr in attributes {
            create = create.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attr)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build_error(name))?,
            );
        }
        for index in &spec.indexes {
            create = create.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(&index.name)
                    .set_key_schema(Some(key_schema(
                        name,
                        &index.partition_key,
                        &index.sort_key,
                    )?))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(build_error(name))?,
            );
        }
        if spec.stream {
            create = create.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .map_err(build_error(name))?,
            );
        }
        if let Some(key) = &spec.sse_key {
            create = create.sse_specification(
                SseSpecification::builder()
                    .enabled(true)
                    .sse_type(SseType::Kms)
                    .kms_master_key_id(key)
                    .build(),
            );
        }
        for (k, v) in &spec.tags {
            create = create.tags(
                Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .map_err(build_error(name))?,
            );
        }
        let _operation = self.pacer.table_operation().await;
        self.pacer.ready(ControlCall::DynamoControl).await;
        if let Err(e) = create.send().await {
            let e = sdk_error(format!("creating table {name}"), e);
            if e.kind() == crate::ErrorKind::AlreadyExists {
                self.finish_cut_short(spec).await?;
            }
            return Err(e);
        }
        let (arn, stream_arn) = self.wait_active(name).await?;
        self.apply_settings(spec, None).await?;
        Ok(TableInfo {
            spec: spec.clone(),
            arn,
            status: TableStatus::Active,
            stream_arn,
        })
    }

    async fn describe_table(&self, name: &str) -> Result<TableInfo> {
        let table = self.description(name).await?;
        self.info(table).await
    }

    /// DeleteTable, then waits until DynamoDB no longer knows the table. A table still being
    /// created or updated cannot be deleted yet: that is `Unavailable` (retryable).
    async fn delete_table(&self, name: &str) -> Result<()> {
        let _operation = self.pacer.table_operation().await;
        self.pacer.ready(ControlCall::DynamoControl).await;
        self.dynamodb
            .delete_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| {
                let e = sdk_error(format!("deleting table {name}"), e);
                if e.kind() == ErrorKind::AlreadyExists {
                    // ResourceInUseException: busy (creating, updating), not a duplicate.
                    Error::unavailable(e.message().to_owned())
                } else {
                    e
                }
            })?;
        self.dynamodb
            .wait_until_table_not_exists()
            .table_name(name)
            .wait(MAX_WAIT)
            .await
            .map_err(|e| {
                wait_error!(
                    aws_sdk_dynamodb::waiters::table_not_exists::WaitUntilTableNotExistsError,
                    name,
                    "disappear",
                    e
                )
            })?;
        Ok(())
    }

    /// ListTables page by page (DynamoDB does not filter by prefix), then filtered and sorted.
    async fn list_tables(&self, prefix: &str) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let mut start: Option<String> = None;
        loop {
            self.pacer.ready(ControlCall::DynamoControl).await;
            let out = self
                .dynamodb
                .list_tables()
                .limit(LIST_PAGE)
                .set_exclusive_start_table_name(start.take())
                .send()
                .await
                .map_err(|e| sdk_error(format!("listing tables starting with {prefix:?}"), e))?;
            names.extend(
                out.table_names()
                    .iter()
                    .filter(|n| n.starts_with(prefix))
                    .cloned(),
            );
            match out.last_evaluated_table_name {
                Some(last) => start = Some(last),
                None => break,
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sse_key_is_reported_as_an_arn_in_the_tables_account_and_region() {
        let table = "arn:aws:dynamodb:eu-west-1:111122223333:table/t-app";
        assert_eq!(
            key_arn(table, "1234abcd-12ab-34cd-56ef-1234567890ab"),
            "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        );
        let arn = "arn:aws:kms:eu-west-1:111122223333:key/k";
        assert_eq!(key_arn(table, arn), arn);
    }
}
