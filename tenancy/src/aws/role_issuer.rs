//! [`RoleIssuer`] on IAM: one role per tenant, trusting exactly the data plane's principal,
//! with the tenant policy as its one inline policy and the tenant's tags.
//!
//! IAM role names are unique ignoring case: on AWS, creating `Acme` next to `acme` is
//! `AlreadyExists` and either name finds the role. moto, the AWS-compatible server these
//! adapters are tested against, compares names case-sensitively. Spotlight's role names are
//! lowercase (tenant ids are), so the difference never shows in its own names.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_iam::types::Tag;
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};

use crate::aws::errors::sdk_error;
use crate::aws::pacing::{ControlCall, Pacer};
use crate::error::{Error, ErrorKind, Result};
use crate::naming::Tags;
use crate::ports::item_store::ItemStore;
use crate::ports::role_issuer::{
    PolicyDocument, RoleInfo, RoleIssuer, RoleSpec, RoleSummary, one_or_many, validate_role_name,
};
use crate::scoped::ScopedItemStore;

/// The name of the inline policy that carries a role's [`PolicyDocument`].
const POLICY_NAME: &str = "spotlight-tenant";

/// What the trusted principal may do with the role: assume it, tag the session (so one role
/// can hand out per-tenant session credentials) and set the source identity, so a later
/// change to how sessions are issued needs no change to the roles already made.
const TRUST_ACTIONS: &[&str] = &["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"];

pub struct IamRoleIssuer {
    iam: aws_sdk_iam::Client,
    items: Arc<dyn ItemStore>,
    pacer: Arc<Pacer>,
}

impl IamRoleIssuer {
    /// Roles in the account `iam` reaches; scoped store handles over `items`.
    pub fn new(iam: aws_sdk_iam::Client, items: Arc<dyn ItemStore>) -> Self {
        IamRoleIssuer {
            iam,
            items,
            pacer: Arc::default(),
        }
    }

    /// Mutations wait on `pacer` (shared by every adapter of the process).
    pub fn paced(self, pacer: Arc<Pacer>) -> Self {
        IamRoleIssuer { pacer, ..self }
    }

    /// Every tag of the role, page by page.
    async fn tags(&self, name: &str) -> Result<Tags> {
        let mut tags = Tags::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .iam
                .list_role_tags()
                .role_name(name)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| sdk_error(format!("listing the tags of role {name}"), e))?;
            for tag in page.tags() {
                tags.insert(tag.key().to_owned(), tag.value().to_owned());
            }
            match page.marker() {
                Some(next) if page.is_truncated() => marker = Some(next.to_owned()),
                _ => return Ok(tags),
            }
        }
    }

    /// The names of every inline policy of the role, page by page.
    async fn inline_policies(&self, name: &str) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .iam
                .list_role_policies()
                .role_name(name)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| sdk_error(format!("listing the policies of role {name}"), e))?;
            names.extend(page.policy_names().iter().cloned());
            match page.marker() {
                Some(next) if page.is_truncated() => marker = Some(next.to_owned()),
                _ => return Ok(names),
            }
        }
    }
}

#[async_trait]
impl RoleIssuer for IamRoleIssuer {
    /// CreateRole (trust policy and tags), then PutRolePolicy. Should the policy fail, the
    /// role just made is deleted again before the error is returned, so a failed create
    /// leaves nothing behind and may simply be tried again. A role that exists already is
    /// `AlreadyExists` whatever its policy; a document IAM refuses is `Invalid`.
    async fn create_role(&self, spec: &RoleSpec) -> Result<RoleInfo> {
        validate_role_name(&spec.name)?;
        let name = &spec.name;
        let trust = trust_policy_document(&spec.trusted_principal).to_string();
        let policy = serde_json::to_string(&spec.policy)
            .map_err(|e| Error::invalid(format!("policy of role {name}: {e}")))?;
        let mut create = self
            .iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust);
        for (k, v) in &spec.tags {
            let tag = Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| Error::invalid(format!("tag {k} of role {name}: {e}")))?;
            create = create.tags(tag);
        }
        self.pacer.ready(ControlCall::IamMutation).await;
        let created = create
            .send()
            .await
            .map_err(|e| sdk_error(format!("creating role {name}"), e))?;
        let arn = created
            .role()
            .map(|r| r.arn().to_owned())
            .ok_or_else(|| Error::unavailable(format!("IAM created role {name} without it")))?;
        self.pacer.ready(ControlCall::IamMutation).await;
        if let Err(e) = self
            .iam
            .put_role_policy()
            .role_name(name)
            .policy_name(POLICY_NAME)
            .policy_document(policy)
            .send()
            .await
        {
            let err = sdk_error(format!("putting the policy of role {name}"), e);
            // Made by this call, so ours to remove; a role left over is reported, not hidden.
            self.pacer.ready(ControlCall::IamMutation).await;
            if let Err(undo) = self.iam.delete_role().role_name(name).send().await {
                let undo = sdk_error(format!("deleting role {name} again"), undo);
                tracing::warn!(role = %name, error = %undo, "a role whose policy failed is left behind");
            }
            return Err(err);
        }
        Ok(RoleInfo {
            spec: spec.clone(),
            arn,
        })
    }

    /// GetRole, ListRoleTags and GetRolePolicy, read back into the spec the role was created
    /// with. A role without the `spotlight-tenant` policy (not made here, or its create still
    /// under way) is `NotFound`; one whose trust policy names not exactly one principal is
    /// `Invalid`.
    async fn describe_role(&self, name: &str) -> Result<RoleInfo> {
        let got = self
            .iam
            .get_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| sdk_error(format!("describing role {name}"), e))?;
        let role = got
            .role()
            .ok_or_else(|| Error::unavailable(format!("IAM described role {name} without it")))?;
        let trust = role.assume_role_policy_document().ok_or_else(|| {
            Error::unavailable(format!(
                "IAM described role {name} without its trust policy"
            ))
        })?;
        let trusted_principal = TrustPolicy::parse(trust)
            .and_then(|t| t.trusted_principal())
            .map_err(|e| Error::invalid(format!("trust policy of role {name}: {e}")))?;
        let tags = self.tags(name).await?;
        let policy = self
            .iam
            .get_role_policy()
            .role_name(name)
            .policy_name(POLICY_NAME)
            .send()
            .await
            .map_err(|e| sdk_error(format!("reading policy {POLICY_NAME} of role {name}"), e))?;
        let policy = parse_policy_document(policy.policy_document())
            .map_err(|e| Error::invalid(format!("policy {POLICY_NAME} of role {name}: {e}")))?;
        Ok(RoleInfo {
            spec: RoleSpec {
                name: role.role_name().to_owned(),
                trusted_principal,
                policy,
                tags,
            },
            arn: role.arn().to_owned(),
        })
    }

    /// Deletes every inline policy (IAM refuses to delete a role that has one), then the role.
    /// A policy that vanished meanwhile is no error; a missing role is `NotFound`.
    async fn delete_role(&self, name: &str) -> Result<()> {
        for policy in self.inline_policies(name).await? {
            self.pacer.ready(ControlCall::IamMutation).await;
            match self
                .iam
                .delete_role_policy()
                .role_name(name)
                .policy_name(&policy)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) => {
                    let e = sdk_error(format!("deleting policy {policy} of role {name}"), e);
                    if e.kind() != ErrorKind::NotFound {
                        return Err(e);
                    }
                }
            }
        }
        self.pacer.ready(ControlCall::IamMutation).await;
        self.iam
            .delete_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| sdk_error(format!("deleting role {name}"), e))?;
        Ok(())
    }

    /// PutRolePolicy under the one policy name: the document replaces whatever was there.
    async fn put_role_policy(&self, name: &str, policy: &PolicyDocument) -> Result<()> {
        let document = serde_json::to_string(policy)
            .map_err(|e| Error::invalid(format!("policy of role {name}: {e}")))?;
        self.pacer.ready(ControlCall::IamMutation).await;
        self.iam
            .put_role_policy()
            .role_name(name)
            .policy_name(POLICY_NAME)
            .policy_document(document)
            .send()
            .await
            .map_err(|e| sdk_error(format!("putting the policy of role {name}"), e))?;
        Ok(())
    }

    /// ListRoles page by page, filtered by name here (IAM filters only by path), then each
    /// matching role's tags (ListRoles does not return them). A role whose policy is missing
    /// is listed too: its tags still say whose it is.
    async fn list_roles(&self, prefix: &str) -> Result<Vec<RoleSummary>> {
        let mut found = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .iam
                .list_roles()
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| sdk_error(format!("listing roles starting with {prefix:?}"), e))?;
            for role in page.roles() {
                if role.role_name().starts_with(prefix) {
                    found.push((role.role_name().to_owned(), role.arn().to_owned()));
                }
            }
            match page.marker() {
                Some(next) if page.is_truncated() => marker = Some(next.to_owned()),
                _ => break,
            }
        }
        let mut roles = Vec::new();
        for (name, arn) in found {
            match self.tags(&name).await {
                Ok(tags) => roles.push(RoleSummary { name, arn, tags }),
                // Deleted since it was listed.
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(roles)
    }

    /// The role's policy enforced in front of the item store this adapter was given, exactly
    /// as the embedded adapter does (`ScopedItemStore`): the handle still uses the store's
    /// own credentials. Handing out the role's own session credentials (AssumeRole with
    /// session tags, which the trust policy already allows) is a later change.
    async fn scoped_store(&self, role_name: &str) -> Result<Arc<dyn ItemStore>> {
        let info = self.describe_role(role_name).await?;
        Ok(Arc::new(ScopedItemStore::new(&info, self.items.clone())))
    }
}

/// A policy document as IAM returns it: URL-encoded JSON (RFC 3986, `+` left as is), or the
/// JSON itself (some IAM-compatible servers do not encode it). Decoded as the AWS SDKs that
/// decode it do, then parsed.
fn decode_document(raw: &str) -> std::result::Result<String, String> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|d| d.into_owned())
        .map_err(|e| format!("not UTF-8 once URL-decoded: {e}"))
}

/// A [`PolicyDocument`] from IAM's answer (URL-encoded or not; a single `Action` or
/// `Resource` as a string or a list).
fn parse_policy_document(raw: &str) -> std::result::Result<PolicyDocument, String> {
    let json = decode_document(raw)?;
    serde_json::from_str(&json).map_err(|e| format!("not a policy document: {e}"))
}

/// The trust policy document a tenant role is created with, trusting only `principal`: what
/// [`IamRoleIssuer::create_role`] sends to IAM, exposed so that a policy evaluator can be
/// asked what it admits (moto does not enforce trust policies).
pub fn trust_policy_document(principal: &str) -> serde_json::Value {
    serde_json::to_value(TrustPolicy::trusting(principal))
        .expect("a trust policy of strings always serialises")
}

/// The trust policy of a tenant role: the one principal that may assume it.
#[derive(Debug, Serialize, Deserialize)]
struct TrustPolicy {
    #[serde(rename = "Version")]
    version: String,
    #[serde(rename = "Statement")]
    statements: Vec<TrustStatement>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TrustStatement {
    #[serde(rename = "Effect")]
    effect: String,
    #[serde(rename = "Principal")]
    principal: TrustPrincipal,
    #[serde(rename = "Action", deserialize_with = "one_or_many")]
    actions: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TrustPrincipal {
    #[serde(rename = "AWS", deserialize_with = "one_or_many", default)]
    aws: Vec<String>,
}

impl TrustPolicy {
    fn trusting(principal: &str) -> Self {
        TrustPolicy {
            version: "2012-10-17".to_owned(),
            statements: vec![TrustStatement {
                effect: "Allow".to_owned(),
                principal: TrustPrincipal {
                    aws: vec![principal.to_owned()],
                },
                actions: TRUST_ACTIONS.iter().map(|a| (*a).to_owned()).collect(),
            }],
        }
    }

    fn parse(raw: &str) -> std::result::Result<Self, String> {
        let json = decode_document(raw)?;
        serde_json::from_str(&json).map_err(|e| format!("not a trust policy: {e}"))
    }

    /// The one AWS principal allowed `sts:AssumeRole`.
    fn trusted_principal(&self) -> std::result::Result<String, String> {
        let mut principals: Vec<&String> = self
            .statements
            .iter()
            .filter(|s| s.effect == "Allow" && s.actions.iter().any(|a| a == "sts:AssumeRole"))
            .flat_map(|s| s.principal.aws.iter())
            .collect();
        principals.sort();
        principals.dedup();
        match principals.as_slice() {
            [one] => Ok((*one).clone()),
            other => Err(format!(
                "trusts {} principals, not exactly one",
                other.len()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `s` URL-encoded as IAM encodes policy documents (everything but unreserved characters).
    fn url_encoded(s: &str) -> String {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    }

    #[test]
    fn a_url_encoded_policy_with_single_strings_is_read_as_lists() {
        let json = r#"{"Version":"2012-10-17","Statement":[{"Sid":"TenantKey","Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:us-east-1:1:key/k"}]}"#;
        let raw = url_encoded(json);
        assert!(raw.starts_with("%7B%22Version%22"), "{raw}");
        let policy = parse_policy_document(&raw).unwrap();
        assert_eq!(policy.statements[0].actions, ["kms:Decrypt"]);
        assert_eq!(
            policy.statements[0].resources,
            ["arn:aws:kms:us-east-1:1:key/k"]
        );
    }

    #[test]
    fn a_policy_reads_back_equal_encoded_or_not() {
        let policy = PolicyDocument::tenant(
            &["arn:aws:dynamodb:us-east-1:1:table/t-1"],
            "arn:aws:kms:us-east-1:1:key/k",
        );
        let json = serde_json::to_string(&policy).unwrap();
        assert_eq!(parse_policy_document(&json).unwrap(), policy);
        assert_eq!(parse_policy_document(&url_encoded(&json)).unwrap(), policy);
        assert_eq!(
            parse_policy_document(&url_encoded(&json))
                .unwrap()
                .allowed_tables(),
            ["t-1"]
        );
    }

    #[test]
    fn a_plus_in_an_encoded_document_stays_a_plus() {
        let principal = "arn:aws:iam::1:role/data+plane";
        let json = serde_json::to_string(&TrustPolicy::trusting(principal)).unwrap();
        let raw = json.replace('{', "%7B").replace('"', "%22");
        let trust = TrustPolicy::parse(&raw).unwrap();
        assert_eq!(trust.trusted_principal().unwrap(), principal);
    }

    #[test]
    fn the_trust_policy_names_one_principal_and_every_session_action() {
        let principal = "arn:aws:iam::1:role/spotlight-data-plane";
        let json = serde_json::to_string(&TrustPolicy::trusting(principal)).unwrap();
        for action in TRUST_ACTIONS {
            assert!(json.contains(action), "{json}");
        }
        let trust = TrustPolicy::parse(&url_encoded(&json)).unwrap();
        assert_eq!(trust.trusted_principal().unwrap(), principal);
    }

    #[test]
    fn a_trust_policy_with_a_single_string_principal_and_action_is_read() {
        let json = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root"},"Action":"sts:AssumeRole"}]}"#;
        let trust = TrustPolicy::parse(&url_encoded(json)).unwrap();
        assert_eq!(trust.trusted_principal().unwrap(), "arn:aws:iam::1:root");
    }

    #[test]
    fn a_trust_policy_without_exactly_one_principal_is_refused() {
        let none = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        assert!(
            TrustPolicy::parse(none)
                .unwrap()
                .trusted_principal()
                .is_err()
        );
        let two = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["a","b"]},"Action":"sts:AssumeRole"}]}"#;
        assert!(
            TrustPolicy::parse(two)
                .unwrap()
                .trusted_principal()
                .is_err()
        );
    }
}
