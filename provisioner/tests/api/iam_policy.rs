//! The tenant role's policies, evaluated by a real IAM policy evaluator (npm
//! `@cloud-copilot/iam-simulate`, installed by `scripts/iam-simulate.sh` into `.tools/` and
//! run through `scripts/iam-eval.mjs`). moto ignores resource ARNs and trust policies when it
//! enforces IAM, so what the policies allow is proven here rather than against it.
//!
//! The documents are the ones provisioning writes: the role's inline policy from the plan
//! (`TenantPlan::role_spec`), the trust policy the IAM adapter creates the role with, and the
//! key policy KMS gives a key created without one (Spotlight sets none), which lets the
//! account's IAM policies decide. The ARNs are those AWS gives the planned names in one
//! account and region.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use provisioner::plan::TenantPlan;
use serde_json::{Value, json};
use tenancy::ports::PolicyDocument;
use tenancy::ports::role_issuer::{
    DYNAMODB_ITEM_ACTIONS, DYNAMODB_STREAM_ACTIONS, KMS_DATA_ACTIONS,
};
use tenancy::{TablePrefix, TenantId};

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";
const DATA_PLANE: &str = "arn:aws:iam::111122223333:role/spotlight-data-plane";

/// What an action on a resource came to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    Allowed,
    /// `ImplicitlyDenied` or `ExplicitlyDenied`.
    Denied(String),
}

/// One request to the evaluator, and what it is about (for failure messages).
struct Ask {
    what: String,
    request: Value,
}

/// A tenant's planned resources under the ARNs AWS gives them, and its role's documents.
struct Tenant {
    role_arn: String,
    table_arns: Vec<String>,
    index_arns: Vec<String>,
    stream_arns: Vec<String>,
    key_arn: String,
    policy: PolicyDocument,
    trust: Value,
}

impl Tenant {
    fn planned(id: &str) -> Tenant {
        let prefix = TablePrefix::parse("pol").unwrap();
        let plan = TenantPlan::new(&prefix, &TenantId::parse(id).unwrap(), DATA_PLANE);
        let table_arn = |name: &str| format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}");
        let table_arns: Vec<String> = plan
            .tables
            .iter()
            .map(|(_, t)| table_arn(&t.name))
            .collect();
        let index_arns = plan
            .tables
            .iter()
            .flat_map(|(_, t)| {
                t.indexes
                    .iter()
                    .map(|i| format!("{}/index/{}", table_arn(&t.name), i.name))
            })
            .collect();
        // A stream's ARN ends in the time it was enabled; only tables that stream have one.
        let stream_arns: Vec<String> = plan
            .tables
            .iter()
            .filter(|(_, t)| t.stream)
            .map(|(_, t)| format!("{}/stream/2026-12-01T17:00:00.000", table_arn(&t.name)))
            .collect();
        assert!(!stream_arns.is_empty(), "the plan streams a table");
        let key_arn = format!(
            "arn:aws:kms:{REGION}:{ACCOUNT}:key/{}",
            uuid::Uuid::new_v4()
        );
        let arns: Vec<&str> = table_arns.iter().map(String::as_str).collect();
        let role = plan.role_spec(&arns, &key_arn);
        Tenant {
            role_arn: format!("arn:aws:iam::{ACCOUNT}:role/{}", role.name),
            trust: tenancy::aws::trust_policy_document(&role.trusted_principal),
            policy: role.policy,
            table_arns,
            index_arns,
            stream_arns,
            key_arn,
        }
    }

    /// Every item, stream and key action the tenant role is meant to have, on `owner`'s
    /// resources, as `self`'s role with `policy`.
    fn data_requests(&self, owner: &Tenant, policy: &PolicyDocument) -> Vec<Ask> {
        let mut asks = Vec::new();
        for table in &owner.table_arns {
            for action in DYNAMODB_ITEM_ACTIONS {
                asks.push(self.ask(policy, action, table, None));
            }
        }
        // Of the item actions, only Query reads an index.
        for index in &owner.index_arns {
            asks.push(self.ask(policy, "dynamodb:Query", index, None));
        }
        for stream in &owner.stream_arns {
            for action in DYNAMODB_STREAM_ACTIONS {
                asks.push(self.ask(policy, action, stream, None));
            }
        }
        for action in KMS_DATA_ACTIONS {
            asks.push(self.ask(policy, action, &owner.key_arn, Some(default_key_policy())));
        }
        asks
    }

    /// Administration of its own resources, which the role must never have.
    fn admin_requests(&self) -> Vec<Ask> {
        let mut asks = Vec::new();
        for table in &self.table_arns {
            for action in [
                "dynamodb:DeleteTable",
                "dynamodb:UpdateTable",
                "dynamodb:CreateTable",
                "dynamodb:UpdateTimeToLive",
                "dynamodb:UpdateContinuousBackups",
                "dynamodb:TagResource",
                "dynamodb:UntagResource",
                "dynamodb:Scan",
                "dynamodb:DescribeTable",
            ] {
                asks.push(self.ask(&self.policy, action, table, None));
            }
        }
        for action in [
            "kms:ScheduleKeyDeletion",
            "kms:DisableKey",
            "kms:PutKeyPolicy",
            "kms:CreateGrant",
            "kms:TagResource",
        ] {
            asks.push(self.ask(
                &self.policy,
                action,
                &self.key_arn,
                Some(default_key_policy()),
            ));
        }
        for action in [
            "iam:PutRolePolicy",
            "iam:UpdateAssumeRolePolicy",
            "iam:DeleteRole",
        ] {
            asks.push(self.ask(&self.policy, action, &self.role_arn, None));
        }
        asks
    }

    fn ask(
        &self,
        policy: &PolicyDocument,
        action: &str,
        resource: &str,
        resource_policy: Option<Value>,
    ) -> Ask {
        Ask {
            what: format!("{} {action} on {resource}", self.role_arn),
            request: json!({
                "principal": self.role_arn,
                "action": action,
                "resource": resource,
                "identity_policies": [policy],
                "resource_policy": resource_policy,
            }),
        }
    }

    /// `principal` (allowed every STS action by its own policy, so that only the role's trust
    /// policy can refuse it) assuming, tagging or naming a session of this role.
    fn trust_requests(&self, principal: &str, trust: &Value) -> Vec<Ask> {
        ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]
            .into_iter()
            .map(|action| Ask {
                what: format!("{principal} {action} on {}", self.role_arn),
                request: json!({
                    "principal": principal,
                    "action": action,
                    "resource": self.role_arn,
                    "identity_policies": [{
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "sts:*", "Resource": "*"}],
                    }],
                    "resource_policy": trust,
                }),
            })
            .collect()
    }
}

/// The key policy KMS gives a key created without one: the account may use the key as far
/// as its IAM policies allow.
fn default_key_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
            "Action": "kms:*",
            "Resource": "*",
        }],
    })
}

/// Runs every request through the evaluator in one process, returning each decision with what
/// it was about. Panics, saying how to install it, when the evaluator is missing; panics on a
/// request it refuses to evaluate (an action it does not know on that resource), since a
/// refused request proves nothing either way.
fn evaluate(asks: Vec<Ask>) -> Vec<(String, Decision)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let input = Value::Array(asks.iter().map(|a| a.request.clone()).collect()).to_string();
    let mut child = Command::new("node")
        .arg(root.join("scripts/iam-eval.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run node for the IAM policy evaluator ({e}); install Node.js 20+ \
                 and run scripts/iam-simulate.sh (scripts/test.sh does)"
            )
        });
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.as_bytes())
        .expect("requests written to the evaluator");
    let out = child.wait_with_output().expect("the evaluator finished");
    assert!(
        out.status.success(),
        "the IAM policy evaluator failed ({}); install it with scripts/iam-simulate.sh: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Value> = serde_json::from_slice(&out.stdout).expect("the evaluator's JSON");
    assert_eq!(answers.len(), asks.len(), "one answer per request");
    asks.into_iter()
        .zip(answers)
        .map(|(ask, answer)| {
            let decision = match answer["decision"].as_str() {
                Some("Allowed") => Decision::Allowed,
                Some(denied) => Decision::Denied(denied.to_owned()),
                None => panic!("the evaluator refused {}: {answer}", ask.what),
            };
            (ask.what, decision)
        })
        .collect()
}

fn assert_all_allowed(decisions: &[(String, Decision)]) {
    let denied: Vec<_> = decisions
        .iter()
        .filter(|(_, d)| *d != Decision::Allowed)
        .collect();
    assert!(denied.is_empty(), "should be allowed: {denied:#?}");
}

fn assert_none_allowed(decisions: &[(String, Decision)]) {
    let allowed: Vec<&String> = decisions
        .iter()
        .filter(|(_, d)| *d == Decision::Allowed)
        .map(|(what, _)| what)
        .collect();
    assert!(allowed.is_empty(), "should be denied: {allowed:#?}");
}

#[test]
fn a_tenant_role_may_use_its_own_tables_indexes_streams_and_key() {
    let a = Tenant::planned("alpha");
    let decisions = evaluate(a.data_requests(&a, &a.policy));
    assert!(decisions.len() > KMS_DATA_ACTIONS.len());
    assert_all_allowed(&decisions);
}

#[test]
fn a_tenant_role_is_denied_every_resource_of_another_tenant() {
    let (a, b) = (Tenant::planned("alpha"), Tenant::planned("bravo"));
    assert_none_allowed(&evaluate(a.data_requests(&b, &a.policy)));
    assert_none_allowed(&evaluate(b.data_requests(&a, &b.policy)));
}

#[test]
fn a_tenant_role_cannot_administer_even_its_own_resources() {
    let a = Tenant::planned("alpha");
    assert_none_allowed(&evaluate(a.admin_requests()));
}

#[test]
fn a_tenant_role_is_assumed_only_by_the_data_plane_principal() {
    let a = Tenant::planned("alpha");
    assert_all_allowed(&evaluate(a.trust_requests(DATA_PLANE, &a.trust)));
    for intruder in [
        format!("arn:aws:iam::{ACCOUNT}:role/spotlight-other"),
        format!("arn:aws:iam::{ACCOUNT}:user/operator"),
        "arn:aws:iam::444455556666:role/spotlight-data-plane".to_owned(),
    ] {
        assert_none_allowed(&evaluate(a.trust_requests(&intruder, &a.trust)));
    }
}

/// The check can fail: the same requests against a policy widened to every table, and a
/// trust policy widened to every principal, come out allowed.
#[test]
fn a_widened_policy_lets_the_evaluator_see_cross_tenant_access() {
    let (a, b) = (Tenant::planned("alpha"), Tenant::planned("bravo"));
    let mut widened = a.policy.clone();
    for statement in &mut widened.statements {
        statement.resources = vec!["*".to_owned()];
    }
    assert_all_allowed(&evaluate(a.data_requests(&b, &widened)));

    let mut trust = a.trust.clone();
    trust["Statement"][0]["Principal"] = json!({"AWS": "*"});
    let intruder = format!("arn:aws:iam::{ACCOUNT}:role/spotlight-other");
    assert_all_allowed(&evaluate(a.trust_requests(&intruder, &trust)));
}
