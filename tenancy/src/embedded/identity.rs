//! Embedded `Identity`: admin users as rows of `identity.db` (the user and its admin record
//! are one row: removing the admin removes both), and a local RS256 issuer whose key pair
//! lives in `identity.key` (PKCS#8, mode 0600, created once and published atomically like
//! `master.key`). Its JWKS is that one key; tokens carry Cognito's claims, so the data plane
//! verifies them exactly as it verifies Cognito's.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;
use tokio::sync::OnceCell;

use crate::embedded::private_file;
use crate::embedded::sqlite::{Db, blocking, is_unique_violation, sql_err};
use crate::embedded::timestamps::{from_nanos, now, to_nanos};
use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::jwt::{DEFAULT_ADMIN_GROUP, IdClaims, KeySource, RsaSigner, TokenRules, TokenVerifier};
use crate::naming::TablePrefix;
use crate::ports::identity::{
    AdminEmail, AdminId, AdminRef, AdminUser, IdToken, Identity, VerifiedAdmin,
};

pub(crate) const FILE_NAME: &str = "identity.db";

/// The issuer's private key (PKCS#8 DER).
pub const KEY_FILE_NAME: &str = "identity.key";

/// How long a minted token is accepted: an hour, as Cognito's ID tokens by default.
pub const TOKEN_LIFETIME: time::Duration = time::Duration::hours(1);

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS admins (
    tenant     TEXT NOT NULL,
    email      TEXT NOT NULL UNIQUE,
    id         TEXT NOT NULL UNIQUE,
    invited_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, email)
) WITHOUT ROWID;
";

/// What the embedded issuer's tokens say about who issued them and for whom: the
/// deployment names the issuer, so two deployments' tokens never pass for each other.
pub fn token_rules(deployment: &TablePrefix) -> TokenRules {
    TokenRules {
        issuer: format!("spotlight-embedded:{}", deployment.as_str()),
        audience: "spotlight".to_owned(),
    }
}

/// The issuer's key in `dir`, created first if there is none.
/// Errors: `Invalid` when the file is open to other users or is not an RSA key;
/// `Unavailable` when it cannot be read or written.
pub fn load_or_create_signer(dir: &Path) -> Result<RsaSigner> {
    let path = dir.join(KEY_FILE_NAME);
    if !path.exists() {
        let fresh = RsaSigner::generate("pending")?;
        // Losing a race is fine: the winner's key is read below.
        private_file::publish_private_file(&path, fresh.pkcs8()).map_err(|e| {
            Error::unavailable(format!("writing {}: {e}", path.display())).with_source(e)
        })?;
    }
    let shown = path.display();
    let meta = fs::symlink_metadata(&path)
        .map_err(|e| Error::unavailable(format!("reading {shown}: {e}")).with_source(e))?;
    let mode = meta.permissions().mode() & 0o777;
    if !meta.file_type().is_file() || mode & 0o077 != 0 {
        return Err(Error::invalid(format!(
            "{shown} must be a regular file of mode 600 (it is the token signing key); \
             found mode {mode:o}"
        )));
    }
    let pkcs8 = fs::read(&path)
        .map_err(|e| Error::unavailable(format!("reading {shown}: {e}")).with_source(e))?;
    RsaSigner::with_thumbprint_kid(&pkcs8)
}

pub(crate) struct EmbeddedIdentity {
    db: Db,
    dir: PathBuf,
    rules: TokenRules,
    /// Loaded (or generated) on first use: generating an RSA key takes a moment that a
    /// process which never mints or verifies a token should not spend at open.
    issuer: OnceCell<Issuer>,
}

struct Issuer {
    signer: Arc<RsaSigner>,
    verifier: TokenVerifier,
}

impl EmbeddedIdentity {
    pub(crate) fn new(db: Db, dir: &Path, rules: TokenRules) -> Self {
        EmbeddedIdentity {
            db,
            dir: dir.to_owned(),
            rules,
            issuer: OnceCell::new(),
        }
    }

    async fn issuer(&self) -> Result<&Issuer> {
        self.issuer
            .get_or_try_init(|| async {
                let dir = self.dir.clone();
                let signer = blocking(move || load_or_create_signer(&dir)).await?;
                let verifier =
                    TokenVerifier::new(self.rules.clone(), KeySource::fixed(&signer.jwks()));
                Ok(Issuer {
                    signer: Arc::new(signer),
                    verifier,
                })
            })
            .await
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, String, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn admin(raw: (String, String, String, i64)) -> Result<AdminUser> {
    let (tenant, email, id, invited_at) = raw;
    let unreadable = |e: String| Error::unavailable(format!("stored admin {email}: {e}"));
    Ok(AdminUser {
        id: AdminId::parse(&id).map_err(|e| unreadable(e.to_string()))?,
        tenant: TenantId::parse(&tenant).map_err(|e| unreadable(e.to_string()))?,
        email: AdminEmail::parse(&email).map_err(|e| unreadable(e.to_string()))?,
        invited_at: from_nanos(invited_at).map_err(|e| unreadable(e.to_string()))?,
    })
}

/// The admin `who` of `tenant`, looked up within that tenant only.
fn find(conn: &rusqlite::Connection, tenant: &TenantId, who: &AdminRef) -> Result<AdminUser> {
    let (column, value) = match who {
        AdminRef::Email(e) => ("email", e.as_str()),
        AdminRef::Id(id) => ("id", id.as_str()),
    };
    let sql = format!(
        "SELECT tenant, email, id, invited_at FROM admins WHERE tenant = ?1 AND {column} = ?2"
    );
    let found = conn
        .query_row(&sql, params![tenant.as_str(), value], row)
        .optional()
        .map_err(sql_err(format!("reading admin {who} of tenant {tenant}")))?;
    found
        .map(admin)
        .transpose()?
        .ok_or_else(|| Error::not_found(format!("tenant {tenant} has no admin {who}")))
}

#[async_trait]
impl Identity for EmbeddedIdentity {
    async fn invite_admin(&self, tenant: &TenantId, email: &AdminEmail) -> Result<AdminUser> {
        let user = AdminUser {
            id: AdminId::random(),
            tenant: tenant.clone(),
            email: email.clone(),
            // Whole seconds, as the AWS adapter stores them.
            invited_at: now().replace_nanosecond(0).unwrap_or_else(|_| now()),
        };
        let written = user.clone();
        self.db
            .write(move |tx| {
                let u = &written;
                match tx.execute(
                    "INSERT INTO admins (tenant, email, id, invited_at) VALUES (?1, ?2, ?3, ?4)",
                    params![
                        u.tenant.as_str(),
                        u.email.as_str(),
                        u.id.as_str(),
                        to_nanos(u.invited_at)?
                    ],
                ) {
                    Ok(_) => Ok(()),
                    Err(e) if is_unique_violation(&e) => {
                        let same_tenant = find(tx, &u.tenant, &AdminRef::Email(u.email.clone()));
                        Err(Error::already_exists(if same_tenant.is_ok() {
                            format!("{} is already an admin of tenant {}", u.email, u.tenant)
                        } else {
                            format!(
                                "{} is already an admin of another tenant; an address \
                                 administers one tenant",
                                u.email
                            )
                        }))
                    }
                    Err(e) => Err(sql_err(format!(
                        "inviting {} to tenant {}",
                        u.email, u.tenant
                    ))(e)),
                }
            })
            .await?;
        Ok(user)
    }

    async fn list_admins(&self, tenant: &TenantId) -> Result<Vec<AdminUser>> {
        let tenant = tenant.clone();
        self.db
            .call(move |conn| {
                let what = || format!("listing the admins of tenant {tenant}");
                let mut stmt = conn
                    .prepare(
                        "SELECT tenant, email, id, invited_at FROM admins WHERE tenant = ?1 \
                         ORDER BY email",
                    )
                    .map_err(sql_err(what()))?;
                let rows = stmt
                    .query_map([tenant.as_str()], row)
                    .map_err(sql_err(what()))?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(sql_err(what()))?;
                rows.into_iter().map(admin).collect()
            })
            .await
    }

    async fn remove_admin(&self, tenant: &TenantId, who: &AdminRef) -> Result<AdminUser> {
        let (tenant, who) = (tenant.clone(), who.clone());
        self.db
            .write(move |tx| {
                let found = find(tx, &tenant, &who)?;
                // Keyed by tenant too: the row removed is the one just read for this tenant.
                tx.execute(
                    "DELETE FROM admins WHERE tenant = ?1 AND id = ?2",
                    params![found.tenant.as_str(), found.id.as_str()],
                )
                .map_err(sql_err(format!("removing admin {who} of tenant {tenant}")))?;
                Ok(found)
            })
            .await
    }

    async fn verify_token(&self, token: &str) -> Result<VerifiedAdmin> {
        let verified = self.issuer().await?.verifier.verify(token).await?;
        let check = verified.clone();
        let on_record = self
            .db
            .call(move |conn| {
                match find(conn, &check.tenant, &AdminRef::Id(check.subject.clone())) {
                    Ok(a) => Ok(a.email == check.email),
                    Err(e) if e.kind() == crate::ErrorKind::NotFound => Ok(false),
                    Err(e) => Err(e),
                }
            })
            .await?;
        if !on_record {
            return Err(Error::access_denied(format!(
                "token refused: {} is no longer an admin of tenant {}",
                verified.email, verified.tenant
            )));
        }
        Ok(verified)
    }

    async fn verify_token_claims(&self, token: &str) -> Result<VerifiedAdmin> {
        self.issuer().await?.verifier.verify(token).await
    }

    async fn mint_token(&self, tenant: &TenantId, who: &AdminRef) -> Result<IdToken> {
        let (t, w) = (tenant.clone(), who.clone());
        let admin = self.db.call(move |conn| find(conn, &t, &w)).await?;
        let issued = OffsetDateTime::now_utc();
        let expires_at = issued + TOKEN_LIFETIME;
        let issuer = self.issuer().await?;
        let rules = &self.rules;
        let claims = IdClaims {
            iss: rules.issuer.clone(),
            aud: rules.audience.clone(),
            sub: admin.id.to_string(),
            email: admin.email.to_string(),
            token_use: "id".to_owned(),
            tenant: admin.tenant.to_string(),
            iat: issued.unix_timestamp(),
            exp: expires_at.unix_timestamp(),
            nbf: None,
            groups: vec![DEFAULT_ADMIN_GROUP.to_owned()],
        };
        let token = issuer.signer.sign(&claims)?;
        Ok(IdToken {
            token,
            expires_at: OffsetDateTime::from_unix_timestamp(expires_at.unix_timestamp())
                .unwrap_or(expires_at),
        })
    }
}
