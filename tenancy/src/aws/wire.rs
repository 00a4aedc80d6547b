//! Wire-level hooks on the SDK clients, installed only by whoever builds the clients with
//! them ([`super::AwsClients::from_config_with`]); [`super::AwsClients::load`], which every
//! binary uses, installs none.
//!
//! - [`CallLog`]: an SDK interceptor recording every request sent (service, operation, whether
//!   it changes anything, when) and the HTTP status of its answer — for tests that assert how
//!   many calls an operation makes, and for the benchmark's peak rate per API.
//! - [`FaultPlan`]: answers chosen calls with a throttling error or an HTTP 500/503, either
//!   instead of sending them (the server never sees the call, as with a real throttle) or after
//!   the server has done the work (so only the answer is lost). An interceptor picks the calls
//!   by operation (it alone sees the operation's name) and marks the request; an HTTP client
//!   wrapped around the SDK's default one answers marked requests.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector,
    http_client_fn,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
    BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// `Service.Operation`, as the SDK names them (`KMS.CreateKey`, `IAM.CreateRole`,
/// `DynamoDB.CreateTable`).
pub type OperationName = String;

/// Whether a call changes anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallKind {
    /// Creates, changes or deletes something (CreateKey, PutItem, DeleteRole, …).
    Mutation,
    /// Only reads: Describe*, Get*, List*, Query, Scan, a waiter's polls, and KMS's
    /// cryptographic calls (Encrypt, Decrypt), which change no resource.
    Read,
}

impl CallKind {
    /// The kind of the operation `name` (the SDK's operation name, `CreateKey`).
    pub fn of(name: &str) -> CallKind {
        const READ_PREFIXES: &[&str] = &["Describe", "Get", "List", "BatchGet", "TransactGet"];
        const READS: &[&str] = &["Query", "Scan", "Encrypt", "Decrypt", "GenerateDataKey"];
        if READ_PREFIXES.iter().any(|p| name.starts_with(p)) || READS.contains(&name) {
            CallKind::Read
        } else {
            CallKind::Mutation
        }
    }
}

/// One request as it went over the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub operation: OperationName,
    pub kind: CallKind,
    /// When it was sent, since the log was made.
    pub sent_after: Duration,
    /// The HTTP status of the answer the SDK read (an injected fault's, if one was injected);
    /// `None` when no answer came.
    pub status: Option<u16>,
    /// Whether that answer was a [`FaultPlan`]'s rather than the server's.
    pub injected: bool,
}

/// Every call made through the clients it is installed on, in the order they were sent.
#[derive(Debug)]
pub struct CallLog {
    start: Instant,
    calls: Mutex<Vec<Call>>,
}

/// Where in the log the call of one SDK attempt is, so its answer can be recorded with it.
#[derive(Debug, Clone, Copy)]
struct LogIndex(usize);

impl Storable for LogIndex {
    type Storer = StoreReplace<Self>;
}

/// `Service.Operation` of the call `cfg` belongs to.
fn operation_of(cfg: &ConfigBag) -> Option<(OperationName, &str)> {
    cfg.load::<Metadata>()
        .map(|m| (format!("{}.{}", m.service(), m.name()), m.name()))
}

impl CallLog {
    pub fn new() -> Arc<CallLog> {
        Arc::new(CallLog {
            start: Instant::now(),
            calls: Mutex::new(Vec::new()),
        })
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("call log lock").clone()
    }

    /// Forgets every call so far (to count one operation's calls from here on).
    pub fn clear(&self) {
        self.calls.lock().expect("call log lock").clear();
    }

    /// How many calls of `kind` each operation made.
    pub fn counts(&self, kind: CallKind) -> BTreeMap<OperationName, u32> {
        let mut counts = BTreeMap::new();
        for call in self.calls().into_iter().filter(|c| c.kind == kind) {
            *counts.entry(call.operation).or_insert(0) += 1;
        }
        counts
    }

    /// How many calls of each operation the SDK saw answered with an injected `status`.
    pub fn injected_answers(&self, status: u16) -> BTreeMap<OperationName, u32> {
        let mut counts = BTreeMap::new();
        for call in self
            .calls()
            .into_iter()
            .filter(|c| c.injected && c.status == Some(status))
        {
            *counts.entry(call.operation).or_insert(0) += 1;
        }
        counts
    }

    /// The most calls of each operation sent within any one second.
    pub fn peak_per_second(&self) -> BTreeMap<OperationName, u32> {
        let mut times: BTreeMap<OperationName, Vec<Duration>> = BTreeMap::new();
        for call in self.calls() {
            times
                .entry(call.operation)
                .or_default()
                .push(call.sent_after);
        }
        times
            .into_iter()
            .map(|(op, mut sent)| {
                sent.sort_unstable();
                // The widest run of calls less than a second apart from its first.
                let mut peak = 0;
                let mut first = 0;
                for last in 0..sent.len() {
                    while sent[last] - sent[first] >= Duration::from_secs(1) {
                        first += 1;
                    }
                    peak = peak.max(last - first + 1);
                }
                (op, u32::try_from(peak).unwrap_or(u32::MAX))
            })
            .collect()
    }
}

/// The interceptor that fills a [`CallLog`].
#[derive(Debug, Clone)]
pub(crate) struct LogInterceptor(pub(crate) Arc<CallLog>);

impl Intercept for LogInterceptor {
    fn name(&self) -> &'static str {
        "spotlight-call-log"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Every SDK operation names itself; should one not, it is still counted, as a mutation.
        let (operation, kind) = match operation_of(cfg) {
            Some((operation, name)) => (operation, CallKind::of(name)),
            None => ("unnamed".to_owned(), CallKind::Mutation),
        };
        let call = Call {
            kind,
            operation,
            sent_after: self.0.start.elapsed(),
            status: None,
            injected: false,
        };
        let index = {
            let mut calls = self.0.calls.lock().expect("call log lock");
            calls.push(call);
            calls.len() - 1
        };
        cfg.interceptor_state().store_put(LogIndex(index));
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(LogIndex(index)) = cfg.load::<LogIndex>().copied() {
            let response = context.response();
            let status = response.status().as_u16();
            let injected = response.headers().get(FAULT_HEADER).is_some();
            if let Some(call) = self.0.calls.lock().expect("call log lock").get_mut(index) {
                call.status = Some(status);
                call.injected = injected;
            }
        }
        Ok(())
    }
}

/// The answer a fault gives in place of the server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 400 with the service's throttling error: `ThrottlingException` in the JSON
    /// protocols (DynamoDB, KMS), `Throttling` in IAM's query protocol.
    Throttling,
    /// HTTP 500 with the service's internal error.
    InternalError,
    /// HTTP 503, service unavailable.
    Unavailable,
}

/// Whether the server sees a faulted call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// The call is answered with the fault and never sent.
    BeforeSending,
    /// The call is sent and done; its answer is replaced with the fault.
    AfterSending,
}

/// Which calls of an operation a rule faults, counting from its first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The first `n`.
    First(u32),
    /// Every `k`-th (the k-th, the 2k-th, …).
    EveryKth(u32),
}

/// One rule of a [`FaultPlan`]: `fault`, at `timing`, for `which` calls of `operation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// `Service.Operation` (`KMS.CreateKey`).
    pub operation: String,
    pub fault: Fault,
    pub timing: Timing,
    pub which: Which,
}

/// The faults to inject, rule by rule; the first rule matching a call decides.
#[derive(Debug)]
pub struct FaultPlan {
    rules: Vec<(FaultRule, AtomicU32)>,
    injected: Mutex<BTreeMap<OperationName, u32>>,
}

impl FaultPlan {
    pub fn new(rules: Vec<FaultRule>) -> Arc<FaultPlan> {
        Arc::new(FaultPlan {
            rules: rules.into_iter().map(|r| (r, AtomicU32::new(0))).collect(),
            injected: Mutex::new(BTreeMap::new()),
        })
    }

    /// How many faults were injected into each operation's calls.
    pub fn injected(&self) -> BTreeMap<OperationName, u32> {
        self.injected.lock().expect("fault plan lock").clone()
    }

    /// The fault for the next call of `operation`, if a rule picks it.
    fn pick(&self, operation: &str) -> Option<(Fault, Timing)> {
        let (rule, seen) = self.rules.iter().find(|(r, _)| r.operation == operation)?;
        let nth = seen.fetch_add(1, Ordering::SeqCst) + 1;
        let hit = match rule.which {
            Which::First(n) => nth <= n,
            Which::EveryKth(k) => k > 0 && nth % k == 0,
        };
        if !hit {
            return None;
        }
        *self
            .injected
            .lock()
            .expect("fault plan lock")
            .entry(operation.to_owned())
            .or_insert(0) += 1;
        Some((rule.fault, rule.timing))
    }

    /// An HTTP client sending through `inner`, answering the requests the plan's interceptor
    /// marked.
    pub(crate) fn http_client(inner: SharedHttpClient) -> SharedHttpClient {
        http_client_fn(move |settings, components| {
            SharedHttpConnector::new(FaultyConnector {
                inner: inner.http_connector(settings, components),
            })
        })
    }
}

/// The request header by which the interceptor tells the connector what to answer (the
/// connector removes it before anything is sent), and the response header that marks an
/// injected answer.
const FAULT_HEADER: &str = "x-spotlight-injected-fault";

/// The interceptor half of a [`FaultPlan`]: picks the calls and marks their requests.
#[derive(Debug, Clone)]
pub(crate) struct FaultInterceptor(pub(crate) Arc<FaultPlan>);

impl Intercept for FaultInterceptor {
    fn name(&self) -> &'static str {
        "spotlight-fault-injector"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some((operation, _)) = operation_of(cfg) else {
            return Ok(());
        };
        if let Some((fault, timing)) = self.0.pick(&operation) {
            let service = operation.split('.').next().unwrap_or_default();
            let mark = Mark {
                fault,
                timing,
                query_protocol: service == "IAM",
            };
            context
                .request_mut()
                .headers_mut()
                .insert(FAULT_HEADER, mark.to_string());
        }
        Ok(())
    }
}

/// What a marked request is to be answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    fault: Fault,
    timing: Timing,
    /// IAM's query protocol (XML errors) rather than a JSON protocol.
    query_protocol: bool,
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fault = match self.fault {
            Fault::Throttling => "throttling",
            Fault::InternalError => "500",
            Fault::Unavailable => "503",
        };
        let timing = match self.timing {
            Timing::BeforeSending => "before",
            Timing::AfterSending => "after",
        };
        let protocol = if self.query_protocol { "query" } else { "json" };
        write!(f, "{fault};{timing};{protocol}")
    }
}

impl Mark {
    fn parse(raw: &str) -> Option<Mark> {
        let mut parts = raw.split(';');
        let fault = match parts.next()? {
            "throttling" => Fault::Throttling,
            "500" => Fault::InternalError,
            "503" => Fault::Unavailable,
            _ => return None,
        };
        let timing = match parts.next()? {
            "before" => Timing::BeforeSending,
            "after" => Timing::AfterSending,
            _ => return None,
        };
        let query_protocol = parts.next()? == "query";
        Some(Mark {
            fault,
            timing,
            query_protocol,
        })
    }

    /// The answer, as the service would give it.
    fn response(&self) -> HttpResponse {
        let (status, code, message) = match self.fault {
            Fault::Throttling if self.query_protocol => (400, "Throttling", "Rate exceeded"),
            Fault::Throttling => (400, "ThrottlingException", "Rate exceeded"),
            Fault::InternalError => (500, "InternalFailure", "injected internal error"),
            Fault::Unavailable => (503, "ServiceUnavailable", "injected unavailability"),
        };
        let (content_type, body) = if self.query_protocol {
            (
                "text/xml",
                format!(
                    "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error>\
                     <Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
                     <RequestId>injected</RequestId></ErrorResponse>"
                ),
            )
        } else {
            (
                "application/x-amz-json-1.1",
                format!("{{\"__type\":\"{code}\",\"message\":\"{message}\"}}"),
            )
        };
        let mut response = HttpResponse::new(
            StatusCode::try_from(status).expect("a valid HTTP status"),
            SdkBody::from(body),
        );
        response.headers_mut().insert("content-type", content_type);
        response
            .headers_mut()
            .insert(FAULT_HEADER, self.to_string());
        response
    }
}

/// Sends through `inner`, answering marked requests with their fault.
#[derive(Debug)]
struct FaultyConnector {
    inner: SharedHttpConnector,
}

impl HttpConnector for FaultyConnector {
    fn call(&self, mut request: HttpRequest) -> HttpConnectorFuture {
        let mark = request.headers_mut().remove(FAULT_HEADER);
        let Some(mark) = mark.as_deref().and_then(Mark::parse) else {
            return self.inner.call(request);
        };
        match mark.timing {
            Timing::BeforeSending => HttpConnectorFuture::ready(Ok(mark.response())),
            Timing::AfterSending => {
                let sent = self.inner.call(request);
                HttpConnectorFuture::new(async move {
                    sent.await?;
                    Ok(mark.response())
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_polls_are_told_from_mutations() {
        for read in [
            "DescribeTable",
            "GetRole",
            "ListAliases",
            "ListResourceTags",
            "Query",
            "GetItem",
            "Decrypt",
        ] {
            assert_eq!(CallKind::of(read), CallKind::Read, "{read}");
        }
        for mutation in [
            "CreateKey",
            "PutRolePolicy",
            "PutItem",
            "TransactWriteItems",
            "DeleteTable",
            "UpdateTimeToLive",
        ] {
            assert_eq!(CallKind::of(mutation), CallKind::Mutation, "{mutation}");
        }
    }

    #[test]
    fn a_rule_faults_exactly_the_calls_it_names() {
        let plan = FaultPlan::new(vec![
            FaultRule {
                operation: "KMS.CreateKey".into(),
                fault: Fault::Throttling,
                timing: Timing::BeforeSending,
                which: Which::First(2),
            },
            FaultRule {
                operation: "IAM.CreateRole".into(),
                fault: Fault::Unavailable,
                timing: Timing::AfterSending,
                which: Which::EveryKth(3),
            },
        ]);
        let keys: Vec<bool> = (0..4)
            .map(|_| plan.pick("KMS.CreateKey").is_some())
            .collect();
        assert_eq!(keys, [true, true, false, false]);
        let roles: Vec<bool> = (0..6)
            .map(|_| plan.pick("IAM.CreateRole").is_some())
            .collect();
        assert_eq!(roles, [false, false, true, false, false, true]);
        assert!(plan.pick("KMS.CreateAlias").is_none());
        assert_eq!(plan.injected()["KMS.CreateKey"], 2);
        assert_eq!(plan.injected()["IAM.CreateRole"], 2);
    }

    #[test]
    fn a_mark_reads_back_as_written() {
        for fault in [Fault::Throttling, Fault::InternalError, Fault::Unavailable] {
            for timing in [Timing::BeforeSending, Timing::AfterSending] {
                for query_protocol in [true, false] {
                    let mark = Mark {
                        fault,
                        timing,
                        query_protocol,
                    };
                    assert_eq!(Mark::parse(&mark.to_string()), Some(mark));
                }
            }
        }
    }

    #[test]
    fn the_peak_rate_is_the_most_calls_within_one_second() {
        let log = CallLog::new();
        for (op, ms) in [
            ("A", 0),
            ("A", 400),
            ("A", 900),
            ("A", 1000),
            ("A", 2500),
            ("B", 5),
        ] {
            log.calls.lock().unwrap().push(Call {
                operation: op.into(),
                kind: CallKind::Mutation,
                sent_after: Duration::from_millis(ms),
                status: Some(200),
                injected: false,
            });
        }
        let peak = log.peak_per_second();
        assert_eq!(peak["A"], 3);
        assert_eq!(peak["B"], 1);
    }
}
