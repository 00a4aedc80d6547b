//! `Identity` cases: inviting, listing and removing admins (one tenant never sees or removes
//! another's), and token verification — a token the backend really issues verifies with its
//! tenant; tokens wrong in any one respect are refused.
//!
//! Tokens come from the fixture's [`TokenLab`]: `sign_in` gets one the way the backend issues
//! them (the embedded issuer mints; Cognito signs in with a password), and `signer` is the
//! private key behind the verifier's trusted JWKS (the embedded issuer's own; moto's published
//! signing key), so a case can craft a token that differs from a good one in exactly one claim
//! or header field. A crafted token with every claim right must verify, which shows that the
//! refusals come from the one thing changed.

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};

use crate::conformance::support::{Fixture, assert_kind};
use crate::error::{ErrorKind, Result};
use crate::jwt::{RsaSigner, TokenRules};
use crate::ports::identity::{AdminEmail, AdminRef, AdminUser};

/// How the identity suite gets tokens on one backend.
#[async_trait]
pub trait TokenLab: Send + Sync {
    /// A token for `admin`, issued as the backend issues them. Errors as the backend refuses
    /// (a removed admin gets none).
    async fn sign_in(&self, fx: &Fixture, admin: &AdminUser) -> Result<String>;
    /// The key whose public half the verifier trusts.
    fn signer(&self) -> &RsaSigner;
    /// The issuer and audience the verifier requires.
    fn rules(&self) -> TokenRules;
}

fn email(fx: &Fixture, who: &str) -> AdminEmail {
    AdminEmail::parse(&format!("{who}.{}@example.com", fx.prefix())).unwrap()
}

async fn invite(fx: &Fixture, tenant: &str, who: &str) -> AdminUser {
    fx.backend
        .identity
        .invite_admin(&fx.tenant(tenant), &email(fx, who))
        .await
        .expect("inviting an admin")
}

/// The claims of a good ID token for `admin`, valid from a minute ago for an hour.
fn good_claims(fx: &Fixture, admin: &AdminUser) -> Value {
    let rules = fx.token_lab().rules();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    json!({
        "iss": rules.issuer,
        "aud": rules.audience,
        "sub": admin.id.as_str(),
        "email": admin.email.as_str(),
        "token_use": "id",
        "custom:tenantId": admin.tenant.as_str(),
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + 3600,
    })
}

fn craft(fx: &Fixture, claims: &Value) -> String {
    fx.token_lab().signer().sign(claims).unwrap()
}

/// Asserts that `token` is refused with `AccessDenied`.
async fn assert_refused(fx: &Fixture, token: &str, doing: &str) {
    assert_kind(
        fx.backend.identity.verify_token(token).await,
        ErrorKind::AccessDenied,
        doing,
    );
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

cases!(
    mod identity;

    pub async fn invited_admins_are_listed_and_removed(fx: &Fixture) {
        let id = &fx.backend.identity;
        let tenant = fx.tenant("acme");
        let ann = invite(fx, "acme", "ann").await;
        let bob = invite(fx, "acme", "bob").await;
        assert_eq!(ann.tenant, tenant);
        assert_eq!(ann.email, email(fx, "ann"));
        assert_ne!(ann.id, bob.id, "every admin has an id of its own");
        let mut listed = id.list_admins(&tenant).await.unwrap();
        listed.sort_by(|a, b| a.email.cmp(&b.email));
        assert_eq!(listed, [ann.clone(), bob.clone()]);

        let removed = id
            .remove_admin(&tenant, &AdminRef::Email(ann.email.clone()))
            .await
            .unwrap();
        assert_eq!(removed, ann);
        let removed = id
            .remove_admin(&tenant, &AdminRef::Id(bob.id.clone()))
            .await
            .unwrap();
        assert_eq!(removed, bob, "removed by id");
        assert_eq!(id.list_admins(&tenant).await.unwrap(), []);
        assert_kind(
            id.remove_admin(&tenant, &AdminRef::Email(ann.email.clone()))
                .await,
            ErrorKind::NotFound,
            "removing a removed admin",
        );
    }

    pub async fn an_email_administers_one_tenant_only(fx: &Fixture) {
        let id = &fx.backend.identity;
        invite(fx, "acme", "ann").await;
        assert_kind(
            id.invite_admin(&fx.tenant("acme"), &email(fx, "ann")).await,
            ErrorKind::AlreadyExists,
            "the same email twice in one tenant",
        );
        let shouted = AdminEmail::parse(&email(fx, "ann").as_str().to_uppercase()).unwrap();
        assert_kind(
            id.invite_admin(&fx.tenant("acme"), &shouted).await,
            ErrorKind::AlreadyExists,
            "the same email in capitals",
        );
        assert_kind(
            id.invite_admin(&fx.tenant("other"), &email(fx, "ann"))
                .await,
            ErrorKind::AlreadyExists,
            "the same email in another tenant",
        );
        assert_eq!(
            id.list_admins(&fx.tenant("other")).await.unwrap(),
            [],
            "the refused invitation left nothing behind"
        );
    }

    pub async fn one_tenant_can_neither_see_nor_remove_the_admins_of_another(fx: &Fixture) {
        let id = &fx.backend.identity;
        let ann = invite(fx, "a", "ann").await;
        let bob = invite(fx, "b", "bob").await;
        assert_eq!(
            id.list_admins(&fx.tenant("a")).await.unwrap(),
            std::slice::from_ref(&ann)
        );
        assert_eq!(id.list_admins(&fx.tenant("b")).await.unwrap(), [bob]);
        for who in [
            AdminRef::Email(ann.email.clone()),
            AdminRef::Id(ann.id.clone()),
        ] {
            assert_kind(
                id.remove_admin(&fx.tenant("b"), &who).await,
                ErrorKind::NotFound,
                "removing an admin of a through b",
            );
        }
        assert_eq!(
            id.list_admins(&fx.tenant("a")).await.unwrap(),
            std::slice::from_ref(&ann),
            "a's admin is still there"
        );
        let token = fx.token_lab().sign_in(fx, &ann).await.unwrap();
        let verified = id.verify_token(&token).await.unwrap();
        assert_eq!(verified.tenant, fx.tenant("a"), "a's admin acts only on a");
    }

    pub async fn a_token_the_backend_issues_verifies_with_its_admin_and_tenant(fx: &Fixture) {
        let ann = invite(fx, "acme", "ann").await;
        let token = fx.token_lab().sign_in(fx, &ann).await.unwrap();
        let verified = fx.backend.identity.verify_token(&token).await.unwrap();
        assert_eq!(verified.subject, ann.id);
        assert_eq!(verified.email, ann.email);
        assert_eq!(verified.tenant, fx.tenant("acme"));
        assert!(verified.expires_at > time::OffsetDateTime::now_utc());
    }

    pub async fn a_crafted_token_differing_in_one_claim_is_refused(fx: &Fixture) {
        let ann = invite(fx, "acme", "ann").await;
        let good = good_claims(fx, &ann);
        let verified = fx
            .backend
            .identity
            .verify_token(&craft(fx, &good))
            .await
            .expect("a crafted token with every claim right verifies");
        assert_eq!(verified.tenant, ann.tenant);

        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let changes: [(&str, &str, Value); 8] = [
            ("expired", "exp", json!(now - 3600)),
            ("not yet valid", "nbf", json!(now + 3600)),
            ("for another app client", "aud", json!("another-client")),
            (
                "from another issuer",
                "iss",
                json!("https://issuer.example.com/other"),
            ),
            ("an access token", "token_use", json!("access")),
            (
                "for another tenant",
                "custom:tenantId",
                json!(fx.tenant("other").as_str()),
            ),
            (
                "for another subject",
                "sub",
                json!(uuid::Uuid::new_v4().to_string()),
            ),
            ("without a tenant", "custom:tenantId", Value::Null),
        ];
        for (what, claim, value) in changes {
            let mut claims = good.clone();
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(claim);
            } else {
                claims[claim] = value;
            }
            assert_refused(fx, &craft(fx, &claims), what).await;
        }
    }

    pub async fn a_token_not_signed_rs256_by_a_published_key_is_refused(fx: &Fixture) {
        let ann = invite(fx, "acme", "ann").await;
        let claims = good_claims(fx, &ann);
        let lab = fx.token_lab();
        let good = craft(fx, &claims);
        let (head, rest) = good.split_once('.').unwrap();
        let (payload, signature) = rest.split_once('.').unwrap();

        // HS256 keyed with the published public key: the classic algorithm confusion.
        let mut hs = Header::new(Algorithm::HS256);
        hs.kid = Some(lab.signer().kid().to_owned());
        let public = serde_json::to_vec(&lab.signer().jwks()).unwrap();
        let hs256 = jsonwebtoken::encode(
            &hs,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&public),
        )
        .unwrap();
        assert_refused(fx, &hs256, "HS256").await;

        let none_header = b64(
            json!({"alg": "none", "kid": lab.signer().kid(), "typ": "JWT"})
                .to_string()
                .as_bytes(),
        );
        assert_refused(fx, &format!("{none_header}.{payload}."), "alg none").await;

        let mut tampered_claims = claims.clone();
        tampered_claims["custom:tenantId"] = json!(fx.tenant("other").as_str());
        let tampered_payload = b64(tampered_claims.to_string().as_bytes());
        assert_refused(
            fx,
            &format!("{head}.{tampered_payload}.{signature}"),
            "a payload changed after signing",
        )
        .await;
        let mut flipped = signature.as_bytes().to_vec();
        flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_refused(
            fx,
            &format!("{head}.{payload}.{flipped}"),
            "a changed signature",
        )
        .await;

        let stranger = RsaSigner::generate(lab.signer().kid()).unwrap();
        assert_refused(
            fx,
            &stranger.sign(&claims).unwrap(),
            "another key under the published kid",
        )
        .await;
        let mut unknown = Header::new(Algorithm::RS256);
        unknown.kid = Some(format!("{}-unknown", fx.prefix()));
        assert_refused(
            fx,
            &lab.signer().sign_with_header(&unknown, &claims).unwrap(),
            "an unknown kid",
        )
        .await;
        assert_refused(fx, "not.a.jwt", "garbage").await;
    }

    pub async fn a_removed_admin_gets_no_new_token_and_its_earlier_one_is_refused(fx: &Fixture) {
        let ann = invite(fx, "acme", "ann").await;
        let lab = fx.token_lab();
        let earlier = lab.sign_in(fx, &ann).await.unwrap();
        fx.backend.identity.verify_token(&earlier).await.unwrap();
        fx.backend
            .identity
            .remove_admin(&ann.tenant, &AdminRef::Id(ann.id.clone()))
            .await
            .unwrap();
        let again = lab.sign_in(fx, &ann).await;
        assert!(
            again.is_err(),
            "a removed admin signed in again: {:?}",
            again.map(|_| "a token")
        );
        assert_refused(fx, &earlier, "a token of a removed admin").await;
    }

    pub async fn claims_only_verification_reads_groups_and_skips_the_admin_record(fx: &Fixture) {
        let id = &fx.backend.identity;
        let ann = invite(fx, "acme", "ann").await;
        let mut claims = good_claims(fx, &ann);
        claims["cognito:groups"] = json!(["spotlight-admins", "Auditors"]);
        let token = craft(fx, &claims);
        let verified = id.verify_token_claims(&token).await.unwrap();
        assert_eq!(verified.groups, ["spotlight-admins", "Auditors"]);
        assert!(verified.in_group("spotlight-admins"));
        assert!(!verified.in_group("auditors"), "group names match exactly");
        assert_eq!(
            id.verify_token(&token).await.unwrap().groups,
            verified.groups,
            "the full check reads the same groups"
        );

        // No groups claim: none.
        let plain = craft(fx, &good_claims(fx, &ann));
        assert!(
            id.verify_token_claims(&plain)
                .await
                .unwrap()
                .groups
                .is_empty()
        );

        // The record is what only the full check consults.
        id.remove_admin(&ann.tenant, &AdminRef::Id(ann.id.clone()))
            .await
            .unwrap();
        assert_refused(fx, &token, "a removed admin's token, fully checked").await;
        assert_eq!(
            id.verify_token_claims(&token).await.unwrap().subject,
            ann.id,
            "the claims alone still verify"
        );

        // Everything else is checked as strictly.
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        for (what, claim, value) in [
            ("expired", "exp", json!(now - 3600)),
            ("for another app client", "aud", json!("another-client")),
            ("without a tenant", "custom:tenantId", Value::Null),
        ] {
            let mut bad = claims.clone();
            if value.is_null() {
                bad.as_object_mut().unwrap().remove(claim);
            } else {
                bad[claim] = value;
            }
            assert_kind(
                id.verify_token_claims(&craft(fx, &bad)).await,
                ErrorKind::AccessDenied,
                what,
            );
        }
    }

    pub async fn minting_is_for_invited_admins_of_backends_that_mint(fx: &Fixture) {
        let id = &fx.backend.identity;
        let ann = invite(fx, "acme", "ann").await;
        let who = AdminRef::Email(ann.email.clone());
        if fx.backend.capabilities.mints_admin_tokens {
            let minted = id.mint_token(&ann.tenant, &who).await.unwrap();
            assert_eq!(
                id.verify_token(&minted.token).await.unwrap().subject,
                ann.id
            );
            assert_kind(
                id.mint_token(&fx.tenant("other"), &who).await,
                ErrorKind::NotFound,
                "minting for an admin through another tenant",
            );
        } else {
            assert_kind(
                id.mint_token(&ann.tenant, &who).await,
                ErrorKind::Invalid,
                "minting where tokens come from signing in",
            );
        }
    }
);
