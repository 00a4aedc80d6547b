//! Client-side pacing of AWS control-plane calls: every adapter waits here before a
//! control-plane call, so that onboarding many tenants at once is slowed to the APIs' published
//! rates instead of failing with throttling errors.
//!
//! - KMS: each control API (CreateKey, CreateAlias, EnableKeyRotation, DeleteAlias,
//!   ScheduleKeyDeletion) has its own request quota, 5 per second by default in every Region;
//!   each gets a limiter of its own at [`PacingLimits::kms_control_per_sec`].
//! - IAM publishes no per-API rate; its mutations (CreateRole, PutRolePolicy, DeleteRolePolicy,
//!   DeleteRole, …) share one conservative limiter at [`PacingLimits::iam_mutations_per_sec`].
//! - DynamoDB allows 500 simultaneous table operations per account and Region (CreateTable,
//!   UpdateTable, DeleteTable, UpdateTimeToLive, …), but only 250 while the tables being created
//!   have secondary indexes, as Spotlight's do: a table operation holds a
//!   [`TableOperation`] permit from its first call until its waiter has seen the outcome. Its
//!   control-plane requests also share a rate of 2,500 per second
//!   ([`PacingLimits::dynamodb_control_per_sec`]).
//! - Lambda allows 15 control-plane requests per second per API, a quota AWS does not raise;
//!   its calls (CreateEventSourceMapping, ListEventSourceMappings, DeleteEventSourceMapping,
//!   ListTags) share one limiter at [`LAMBDA_CONTROL_PER_SEC`], stricter than needed.
//!
//! Waiting here happens inside one port call, below the retry layer: it is never a failure
//! and never uses up a retry attempt. Every limiter lets one call through at a time (a burst
//! of one), so no second of wall-clock time sees more than the rate.

use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{Mutex, Semaphore, SemaphorePermit};

/// Lambda control-plane requests per second, all APIs together (AWS: 15 per API, fixed).
pub const LAMBDA_CONTROL_PER_SEC: NonZeroU32 = NonZeroU32::new(15).unwrap();

/// The rates and concurrency the [`Pacer`] keeps to. The defaults are AWS's published
/// defaults (see the module documentation); accounts with raised quotas configure theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacingLimits {
    /// Calls per second of each KMS control API.
    pub kms_control_per_sec: NonZeroU32,
    /// IAM mutations per second, all APIs together.
    pub iam_mutations_per_sec: NonZeroU32,
    /// DynamoDB control-plane requests per second, all APIs together.
    pub dynamodb_control_per_sec: NonZeroU32,
    /// DynamoDB table operations under way at once.
    pub dynamodb_table_operations: NonZeroU32,
}

impl PacingLimits {
    /// AWS's published defaults.
    pub const AWS_DEFAULTS: PacingLimits = PacingLimits {
        kms_control_per_sec: NonZeroU32::new(5).unwrap(),
        iam_mutations_per_sec: NonZeroU32::new(10).unwrap(),
        dynamodb_control_per_sec: NonZeroU32::new(2_500).unwrap(),
        dynamodb_table_operations: NonZeroU32::new(250).unwrap(),
    };
}

impl Default for PacingLimits {
    fn default() -> Self {
        PacingLimits::AWS_DEFAULTS
    }
}

/// A control-plane call an adapter is about to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlCall {
    KmsCreateKey,
    KmsEnableKeyRotation,
    KmsCreateAlias,
    KmsDeleteAlias,
    KmsScheduleKeyDeletion,
    /// Any IAM call that changes something.
    IamMutation,
    /// Any DynamoDB control-plane request made by an adapter itself (not a waiter's poll).
    DynamoControl,
    /// Any Lambda control-plane request.
    LambdaControl,
}

/// The limiters every AWS adapter of one process shares (held in [`super::AwsClients`]).
#[derive(Debug)]
pub struct Pacer {
    limits: PacingLimits,
    kms_create_key: Paced,
    kms_enable_key_rotation: Paced,
    kms_create_alias: Paced,
    kms_delete_alias: Paced,
    kms_schedule_key_deletion: Paced,
    iam_mutations: Paced,
    dynamodb_control: Paced,
    lambda_control: Paced,
    table_operations: Semaphore,
}

/// One API's rate, served first come, first served. A rate limiter alone lets every waiter
/// try again when it wakes, and whoever wakes first goes: under a burst of onboardings some
/// callers would wait many times longer than others. The queue (tokio's mutex is fair) makes
/// the wait of each caller the number of callers ahead of it divided by the rate.
#[derive(Debug)]
struct Paced {
    rate: DefaultDirectRateLimiter,
    queue: Mutex<()>,
}

impl Paced {
    /// `per_sec` calls a second, one at a time.
    fn new(per_sec: NonZeroU32) -> Paced {
        Paced {
            rate: RateLimiter::direct(Quota::per_second(per_sec).allow_burst(NonZeroU32::MIN)),
            queue: Mutex::new(()),
        }
    }

    async fn ready(&self) {
        let _turn = self.queue.lock().await;
        self.rate.until_ready().await;
    }
}

/// One DynamoDB table operation under way; dropping it lets the next one start.
#[derive(Debug)]
#[must_use = "the table operation counts as under way only while the permit is held"]
pub struct TableOperation<'a> {
    _permit: SemaphorePermit<'a>,
}

impl Pacer {
    pub fn new(limits: PacingLimits) -> Pacer {
        let kms = limits.kms_control_per_sec;
        Pacer {
            limits,
            kms_create_key: Paced::new(kms),
            kms_enable_key_rotation: Paced::new(kms),
            kms_create_alias: Paced::new(kms),
            kms_delete_alias: Paced::new(kms),
            kms_schedule_key_deletion: Paced::new(kms),
            iam_mutations: Paced::new(limits.iam_mutations_per_sec),
            dynamodb_control: Paced::new(limits.dynamodb_control_per_sec),
            lambda_control: Paced::new(LAMBDA_CONTROL_PER_SEC),
            table_operations: Semaphore::new(limits.dynamodb_table_operations.get() as usize),
        }
    }

    pub fn limits(&self) -> PacingLimits {
        self.limits
    }

    /// Waits until `call` may be made without exceeding its rate.
    pub async fn ready(&self, call: ControlCall) {
        let paced = match call {
            ControlCall::KmsCreateKey => &self.kms_create_key,
            ControlCall::KmsEnableKeyRotation => &self.kms_enable_key_rotation,
            ControlCall::KmsCreateAlias => &self.kms_create_alias,
            ControlCall::KmsDeleteAlias => &self.kms_delete_alias,
            ControlCall::KmsScheduleKeyDeletion => &self.kms_schedule_key_deletion,
            ControlCall::IamMutation => &self.iam_mutations,
            ControlCall::DynamoControl => &self.dynamodb_control,
            ControlCall::LambdaControl => &self.lambda_control,
        };
        paced.ready().await;
    }

    /// Waits until fewer than [`PacingLimits::dynamodb_table_operations`] table operations are
    /// under way, then counts one more until the returned permit is dropped.
    pub async fn table_operation(&self) -> TableOperation<'_> {
        let permit = self
            .table_operations
            .acquire()
            .await
            .expect("the pacer never closes its semaphore");
        TableOperation { _permit: permit }
    }
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::new(PacingLimits::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_table_operation_waits_while_the_limit_is_reached() {
        let pacer = Pacer::new(PacingLimits {
            dynamodb_table_operations: NonZeroU32::new(1).unwrap(),
            ..PacingLimits::default()
        });
        let first = pacer.table_operation().await;
        let second = pacer.table_operation();
        tokio::pin!(second);
        assert!(
            futures_poll_once(second.as_mut()).await.is_none(),
            "a second operation started while the only permit was held"
        );
        drop(first);
        let _second = second.await;
    }

    /// Eleven calls at 10 a second take at least a second (ten intervals of 100 ms, a burst
    /// of one). A lower bound only: a slow machine can make them later, never sooner.
    #[tokio::test]
    async fn calls_past_their_rate_wait_their_turn() {
        let pacer = Pacer::new(PacingLimits {
            kms_control_per_sec: NonZeroU32::new(10).unwrap(),
            ..PacingLimits::default()
        });
        let started = std::time::Instant::now();
        for _ in 0..11 {
            pacer.ready(ControlCall::KmsCreateKey).await;
        }
        let took = started.elapsed();
        assert!(
            took >= std::time::Duration::from_millis(900),
            "11 CreateKey calls at 10/s went through in {took:?}"
        );
        // Another API has a limiter of its own: its first call does not wait.
        let next = pacer.ready(ControlCall::KmsCreateAlias);
        tokio::pin!(next);
        assert!(futures_poll_once(next.as_mut()).await.is_some());
    }

    /// Callers waiting on one API go through in the order they came, however many wait.
    #[tokio::test]
    async fn waiting_callers_go_first_come_first_served() {
        let pacer = std::sync::Arc::new(Pacer::new(PacingLimits {
            iam_mutations_per_sec: NonZeroU32::new(200).unwrap(),
            ..PacingLimits::default()
        }));
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for i in 0..40 {
            let (pacer, order) = (pacer.clone(), order.clone());
            let mut waiter = Box::pin(async move {
                pacer.ready(ControlCall::IamMutation).await;
                order.lock().unwrap().push(i);
            });
            // Polled once here, so that it queues before the next one is made.
            if futures_poll_once(waiter.as_mut()).await.is_none() {
                waiters.push(tokio::spawn(waiter));
            }
        }
        for waiter in waiters {
            waiter.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(
            order,
            (0..40).collect::<Vec<_>>(),
            "callers went out of turn"
        );
    }

    /// Polls `f` once: its output if it was ready.
    async fn futures_poll_once<F: std::future::Future + Unpin>(f: F) -> Option<F::Output> {
        let mut f = f;
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
                std::task::Poll::Ready(out) => Some(out),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
