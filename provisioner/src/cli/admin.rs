//! `provisioner admin invite|list|remove|token`: a tenant's admins through the `Identity`
//! port, with the checks the control plane makes (the tenant exists; invitations and tokens
//! are for an active tenant only). Output is JSON.

use anyhow::{Context, anyhow};
use clap::Subcommand;
use tenancy::ports::{AdminEmail, AdminRef};
use tenancy::{TenantId, TenantStatus};

use crate::runner::Provisioner;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Invite an admin to an active tenant; print the admin.
    Invite {
        #[arg(long)]
        tenant: TenantId,
        #[arg(long)]
        email: String,
    },
    /// Print the tenant's admins.
    List {
        #[arg(long)]
        tenant: TenantId,
    },
    /// Remove an admin (its user is disabled, its record removed); print the removed admin.
    Remove {
        #[arg(long)]
        tenant: TenantId,
        /// The admin's e-mail address or admin id.
        #[arg(long, visible_alias = "admin")]
        email: String,
    },
    /// Mint an ID token for an admin of an active tenant (embedded backend only: on aws,
    /// admins sign in to Cognito); print it with its expiry.
    Token {
        #[arg(long)]
        tenant: TenantId,
        /// The admin's e-mail address or admin id.
        #[arg(long, visible_alias = "admin")]
        email: String,
    },
}

/// Runs one admin command; returns what to print.
pub async fn run(
    provisioner: &Provisioner,
    command: AdminCommand,
) -> anyhow::Result<serde_json::Value> {
    let identity = &provisioner.backend().identity;
    Ok(match command {
        AdminCommand::Invite { tenant, email } => {
            let email = AdminEmail::parse(&email)?;
            require_active(provisioner, &tenant, "cannot be given admins").await?;
            let admin = identity
                .invite_admin(&tenant, &email)
                .await
                .with_context(|| format!("inviting {email} to tenant {tenant}"))?;
            serde_json::to_value(admin)?
        }
        AdminCommand::List { tenant } => {
            provisioner
                .record(&tenant)
                .await
                .with_context(|| format!("reading tenant {tenant}"))?;
            let admins = identity
                .list_admins(&tenant)
                .await
                .with_context(|| format!("listing the admins of tenant {tenant}"))?;
            serde_json::json!({ "admins": admins })
        }
        AdminCommand::Remove { tenant, email } => {
            let who = AdminRef::parse(&email)?;
            provisioner
                .record(&tenant)
                .await
                .with_context(|| format!("reading tenant {tenant}"))?;
            let removed = identity
                .remove_admin(&tenant, &who)
                .await
                .with_context(|| format!("removing admin {who} of tenant {tenant}"))?;
            serde_json::to_value(removed)?
        }
        AdminCommand::Token { tenant, email } => {
            let who = AdminRef::parse(&email)?;
            if !provisioner.backend().capabilities.mints_admin_tokens {
                return Err(anyhow!(
                    "this backend does not mint admin tokens: admins sign in to the Cognito \
                     user pool (see provisioner bootstrap)"
                ));
            }
            require_active(provisioner, &tenant, "cannot issue admin tokens").await?;
            let minted = identity
                .mint_token(&tenant, &who)
                .await
                .with_context(|| format!("minting a token for admin {who} of tenant {tenant}"))?;
            serde_json::to_value(minted)?
        }
    })
}

async fn require_active(
    provisioner: &Provisioner,
    tenant: &TenantId,
    refused: &str,
) -> anyhow::Result<()> {
    let record = provisioner
        .record(tenant)
        .await
        .with_context(|| format!("reading tenant {tenant}"))?;
    if record.status != TenantStatus::Active {
        return Err(anyhow!(
            "tenant {tenant} is {} and {refused}",
            record.status
        ));
    }
    Ok(())
}
