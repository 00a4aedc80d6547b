//! The AWS Lambda transports of the data plane. Lambda is only a transport: the HTTP function
//! runs the same [`app`](crate::http::app) router the local binary serves, and the stream
//! function triggers the same exactly-once outbox step the in-process processor runs.
//!
//! - [`serve_http`]: API Gateway HTTP API (v2) events through [`http_service`] — the router
//!   behind `lambda_http`'s adapter, exactly what `lambda_http::run` runs;
//! - [`serve_stream`]: DynamoDB Streams batches of tenants' events tables through
//!   [`on_stream`], which drains the outbox of each table's tenant (folds its events,
//!   publishes its domain events) with [`runner::drain`](crate::events::runner::drain).
//!
//! A Lambda instance is frozen between invocations, so no background task is spawned: a
//! spawned loop would only run while a request is in flight, wake late after every freeze and
//! then race the request it woke in. The outbox is folded by the stream function instead of an
//! in-process loop (`SPOTLIGHT_PROCESS_OUTBOX` does not apply); the origin directory is read
//! once at cold start and again, before the preflight that needs it, when it is older than
//! `SPOTLIGHT_ORIGIN_REFRESH_SECS` — so a preflight never sees origins older than that
//! however long the instance slept; the rate limiter forgets quiet tenants in the same way.
//! A header sent more than once (`Vary`, for one) is joined into one value, as an API
//! Gateway v2 response carries one value per header.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_dynamo::AttributeValue;
use tenancy::table_plan::{PARTITION_KEY, keys};
use tenancy::{ErrorKind, ResourceNames, TenantId, TenantStatus};

use crate::events::ingest::OUTBOX_SHARDS;
use crate::events::runner;
use crate::http::cors;
use crate::state::AppState;

/// The variable the Lambda runtime sets in every function's environment: its presence is
/// what makes `data-plane serve` run under Lambda instead of binding a listener.
pub const RUNTIME_API_VAR: &str = "AWS_LAMBDA_RUNTIME_API";

/// How often, at most, the rate limiter forgets tenants that have been quiet.
const LIMITER_CLEANUP: Duration = Duration::from_secs(60);

/// Attempts at one tenant's outbox within one batch: a step that collided with another
/// processor (the poller, or a concurrent invocation for another stream shard) is tried again.
const DRAIN_ATTEMPTS: u32 = 3;

/// Whether this process runs under the Lambda runtime.
pub fn in_lambda() -> bool {
    std::env::var_os(RUNTIME_API_VAR).is_some_and(|v| !v.is_empty())
}

/// Why a Lambda function refused to start.
#[derive(Debug, thiserror::Error)]
pub enum LambdaStartError {
    #[error(
        "SPOTLIGHT_API_KEY_PEPPER must be set in Lambda: a pepper generated into one instance's \
         data directory would match no API key the control plane issued"
    )]
    NoPepper,
    #[error("{RUNTIME_API_VAR} is not set: the stream handler runs only under the Lambda runtime")]
    NotInLambda,
}

/// Checks what a Lambda function needs before the state is assembled: the shared pepper.
pub fn check_settings(settings: &crate::DataPlaneSettings) -> Result<(), LambdaStartError> {
    use secrecy::ExposeSecret;
    match &settings.api_key_pepper {
        Some(pepper) if !pepper.expose_secret().is_empty() => Ok(()),
        _ => Err(LambdaStartError::NoPepper),
    }
}

/// The service `lambda_http::run` would run for [`app`](crate::http::app): API Gateway
/// events in, API Gateway responses out, with the origin directory and the rate limiter kept
/// fresh on the request path (see the module docs). [`serve_http`] runs this very value, and
/// the tests call it with the events API Gateway sends.
pub fn http_service(state: AppState) -> lambda_http::Adapter<'static, Response, Router> {
    let housekeeping = Housekeeping {
        state: state.clone(),
        limiter_cleaned: Arc::new(Mutex::new(Instant::now())),
    };
    let router = crate::http::app(state).layer(from_fn_with_state(housekeeping, housekeep));
    // `lambda_http::run(router)` is `lambda_runtime::run(Adapter::from(router))`; the adapter
    // is named here so that the tests run what the runtime runs.
    lambda_http::Adapter::from(router)
}

/// Serves [`http_service`] under the Lambda runtime until the runtime stops the instance.
/// The origin directory is read once first (a failure is logged: the first preflight reads
/// it again).
pub async fn serve_http(state: AppState) -> Result<(), lambda_runtime::Error> {
    refresh_origins(&state).await;
    lambda_runtime::run(http_service(state)).await
}

#[derive(Clone)]
struct Housekeeping {
    state: AppState,
    limiter_cleaned: Arc<Mutex<Instant>>,
}

/// Before a preflight, reads the origins again when they are stale; now and then, lets the
/// rate limiter forget quiet tenants.
async fn housekeep(State(h): State<Housekeeping>, request: Request, next: Next) -> Response {
    if cors::is_preflight(&request)
        && h.state
            .origins
            .older_than(h.state.settings.origin_refresh_secs.secs())
    {
        refresh_origins(&h.state).await;
    }
    let clean = {
        let mut at = h.limiter_cleaned.lock().unwrap_or_else(|e| e.into_inner());
        let due = at.elapsed() >= LIMITER_CLEANUP;
        if due {
            *at = Instant::now();
        }
        due
    };
    if clean {
        h.state.limiter.retain_recent();
    }
    let mut response = next.run(request).await;
    combine_repeated(response.headers_mut());
    response
}

/// Joins the values of a header sent more than once into one, comma-separated (RFC 9110
/// §5.3): an API Gateway v2 response has one value per header name, and `lambda_http` keeps
/// only the first. `Set-Cookie`, which may not be joined, is left alone: `lambda_http` moves
/// it into the response's `cookies`.
pub fn combine_repeated(headers: &mut HeaderMap) {
    let repeated: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            *name != header::SET_COOKIE && headers.get_all(*name).iter().nth(1).is_some()
        })
        .cloned()
        .collect();
    for name in repeated {
        let joined = headers
            .get_all(&name)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect::<Vec<_>>()
            .join(&b", "[..]);
        if let Ok(value) = HeaderValue::from_bytes(&joined) {
            headers.insert(name, value);
        }
    }
}

async fn refresh_origins(state: &AppState) {
    if let Err(e) = state.origins.refresh(state.backend.registry.as_ref()).await {
        tracing::warn!(error = %e, "reading allowed origins failed; read again at the next preflight");
    }
}

/// Runs [`on_stream`] under the Lambda runtime for every DynamoDB Streams batch. A batch
/// whose fold failed is answered with an error, so Lambda delivers it again; the fold is
/// exactly once, so a second delivery changes nothing that the first completed.
pub async fn serve_stream(state: AppState) -> Result<(), lambda_runtime::Error> {
    if !in_lambda() {
        return Err(LambdaStartError::NotInLambda.into());
    }
    let handler = service_fn(move |event: LambdaEvent<Event>| {
        let state = state.clone();
        async move {
            let outcome = on_stream(&state, &event.payload).await?;
            tracing::info!(
                records = outcome.records,
                tables = outcome.tables.len(),
                folded = outcome.folded,
                published = outcome.published,
                skipped = outcome.skipped.len(),
                "stream batch done"
            );
            Ok::<_, lambda_runtime::Error>(DynamoDbEventResponse::default())
        }
    });
    lambda_runtime::run(handler).await
}

/// What one stream batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StreamOutcome {
    /// Records in the batch.
    pub records: usize,
    /// The events tables whose tenant's outbox was folded, with their tenant.
    pub tables: BTreeMap<String, TenantId>,
    /// Outbox records folded (those of the batch, and any others the tenants had waiting).
    pub folded: usize,
    /// Domain events published to the event sink (likewise).
    pub published: usize,
    /// Tables with new outbox records that no serving tenant owns, and why each was skipped.
    pub skipped: BTreeMap<String, String>,
}

/// Why a stream batch must be delivered again.
#[derive(Debug, thiserror::Error)]
#[error("draining the outbox of {table}: {source}")]
pub struct StreamError {
    pub table: String,
    #[source]
    pub source: tenancy::Error,
}

/// Drains the outbox of every tenant whose events table has new outbox records in `event`:
/// folds its events and publishes its domain events.
///
/// The stream only triggers the drain: the outbox records in the table stay the source of
/// truth, and [`runner::drain`] folds whatever is there, each record exactly once, and
/// publishes the domain events waiting (at least once). So a record
/// delivered twice, or already folded by a poller, changes nothing; the removals the fold makes
/// arrive as `REMOVE` records and are ignored, like every change that is not an outbox insert.
/// A table is mapped to its tenant through the registry, and only a tenant whose record names
/// that very table as its events table is folded; any other table is logged and skipped.
pub async fn on_stream(state: &AppState, event: &Event) -> Result<StreamOutcome, StreamError> {
    let mut outcome = StreamOutcome {
        records: event.records.len(),
        ..StreamOutcome::default()
    };
    let mut tables: Vec<&str> = event
        .records
        .iter()
        .filter(|r| is_outbox_insert(r))
        .filter_map(|r| {
            let table = r.event_source_arn.as_deref().and_then(table_of_arn);
            if table.is_none() {
                tracing::warn!(event_id = %r.event_id, arn = ?r.event_source_arn,
                    "stream record without a DynamoDB table ARN; skipped");
            }
            table
        })
        .collect();
    tables.sort_unstable();
    tables.dedup();
    for table in tables {
        let (tenant, names) = match owner(state, table).await {
            Ok(Ok(owner)) => owner,
            Ok(Err(why)) => {
                tracing::warn!(table, why = %why, "stream records of a table no tenant owns; skipped");
                outcome.skipped.insert(table.to_owned(), why);
                continue;
            }
            Err(source) => {
                return Err(StreamError {
                    table: table.to_owned(),
                    source,
                });
            }
        };
        let drained = drain(state, &tenant, &names)
            .await
            .map_err(|source| StreamError {
                table: table.to_owned(),
                source,
            })?;
        outcome.folded += drained.folded;
        outcome.published += drained.published;
        outcome.tables.insert(table.to_owned(), tenant);
    }
    Ok(outcome)
}

/// An `INSERT` of an item in one of the outbox partitions (events' or domain events').
fn is_outbox_insert(record: &EventRecord) -> bool {
    record.event_name == "INSERT"
        && matches!(
            record.change.keys.get(PARTITION_KEY),
            Some(AttributeValue::S(pk)) if pk == keys::DOMAIN_OUTBOX
                || (0..OUTBOX_SHARDS).any(|shard| keys::outbox(shard) == *pk)
        )
}

/// The table name in a stream's ARN: `arn:aws:dynamodb:{region}:{account}:table/{name}/stream/{label}`.
pub fn table_of_arn(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some("dynamodb"), Some(_region), Some(_account)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let resource = parts.next()?;
    let mut segments = resource.split('/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some("table"), Some(name), Some("stream")) if !name.is_empty() => Some(name),
        _ => None,
    }
}

/// The tenant that owns events table `table`, or why none does (`Err` inside), or the
/// registry's failure (`Err` outside, retried with the batch).
async fn owner(
    state: &AppState,
    table: &str,
) -> tenancy::Result<Result<(TenantId, ResourceNames), String>> {
    // The names are `{prefix}_tenant-{id}-events`; the registry record decides.
    let start = format!(
        "{}tenant-",
        state.settings.backend.table_prefix.name_start()
    );
    let Some(id) = table
        .strip_prefix(&start)
        .and_then(|rest| rest.strip_suffix("-events"))
        .and_then(|id| TenantId::parse(id).ok())
    else {
        return Ok(Err("not an events table name of this deployment".to_owned()));
    };
    let tenant = match state.backend.registry.get_tenant(&id).await {
        Ok(tenant) => tenant,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Ok(Err(format!("no tenant {id}")));
        }
        Err(e) => return Err(e),
    };
    if tenant.resources.events_table != table {
        return Ok(Err(format!(
            "tenant {id}'s events table is {}",
            tenant.resources.events_table
        )));
    }
    // The statuses the poller's sweep folds: a tenant being removed keeps its records.
    if !matches!(
        tenant.status,
        TenantStatus::Active | TenantStatus::Upgrading | TenantStatus::Suspended
    ) {
        return Ok(Err(format!("tenant {id} is {:?}", tenant.status)));
    }
    Ok(Ok((tenant.id, tenant.resources)))
}

/// [`runner::drain`], tried again when a step collided with another processor (or the sink
/// throttled).
async fn drain(
    state: &AppState,
    tenant: &TenantId,
    names: &ResourceNames,
) -> tenancy::Result<runner::Drained> {
    let mut attempt = 1;
    loop {
        match runner::drain(&state.backend, tenant, names).await {
            Err(e) if e.kind() == ErrorKind::Throttled && attempt < DRAIN_ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_header_is_joined_and_set_cookie_is_not() {
        let mut headers = HeaderMap::new();
        headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
        headers.append(header::VARY, HeaderValue::from_static("origin"));
        headers.append(header::SET_COOKIE, HeaderValue::from_static("a=1"));
        headers.append(header::SET_COOKIE, HeaderValue::from_static("b=2"));
        headers.insert(header::ETAG, HeaderValue::from_static("\"x\""));
        combine_repeated(&mut headers);
        let vary: Vec<_> = headers.get_all(header::VARY).iter().collect();
        assert_eq!(vary, ["accept-encoding, origin"]);
        assert_eq!(headers.get_all(header::SET_COOKIE).iter().count(), 2);
        assert_eq!(headers[header::ETAG], "\"x\"");
    }

    #[test]
    fn the_table_is_read_from_a_stream_arn_and_nothing_else() {
        let arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/spotlight_tenant-acme-events/stream/2026-12-01T00:00:00.000";
        assert_eq!(table_of_arn(arn), Some("spotlight_tenant-acme-events"));
        let gov = "arn:aws-us-gov:dynamodb:us-gov-west-1:123456789012:table/t/stream/x";
        assert_eq!(table_of_arn(gov), Some("t"));
        for not in [
            "",
            "arn:aws:dynamodb:eu-west-1:123456789012:table/spotlight_tenant-acme-events",
            "arn:aws:kinesis:eu-west-1:123456789012:table/t/stream/x",
            "arn:aws:dynamodb:eu-west-1:123456789012:index/t/stream/x",
            "arn:aws:dynamodb:eu-west-1:123456789012:table//stream/x",
            "table/t/stream/x",
        ] {
            assert_eq!(table_of_arn(not), None, "{not}");
        }
    }
}
