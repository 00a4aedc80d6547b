//! The `control-plane` binary as an operator runs it: configured only by `SPOTLIGHT_*`
//! variables, printing its address and a first-run token, and stopping cleanly on SIGTERM.

use std::io::BufRead;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::helpers::{Binary, tenant_body};

#[cfg(unix)]
#[tokio::test]
async fn the_binary_runs_from_environment_settings_and_exits_cleanly_on_sigterm() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let Binary {
        mut child,
        base,
        mut stdout,
    } = Binary::start(
        dir.path(),
        &[
            ("SPOTLIGHT_TABLE_PREFIX", "proc"),
            ("SPOTLIGHT_KEY_DELETION_WINDOW_DAYS", "0"),
            ("RUST_LOG", "warn"),
        ],
    );
    let mut rest = String::new();
    for _ in 0..2 {
        stdout.read_line(&mut rest).unwrap();
    }

    // No token was configured: one was generated into the data directory, private, and shown once.
    let token_file = dir.path().join("operator-token");
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_owned();
    assert!(
        rest.contains(&token),
        "the generated token is printed once: {rest}"
    );
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "operator token file mode");

    let client = reqwest::Client::new();
    let created = client
        .post(format!("{base}/tenants?wait=true"))
        .bearer_auth(&token)
        .json(&tenant_body("proc-tenant"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let record: serde_json::Value = created.json().await.unwrap();
    assert_eq!(record["status"], "active", "{record}");
    // SPOTLIGHT_TABLE_PREFIX reached the provisioner.
    assert_eq!(
        record["resources"]["names"]["app_table"],
        json!("proc_tenant-proc-tenant-app"),
        "{record}"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        exit.success(),
        "control plane exited with {exit:?} on SIGTERM"
    );

    // Stopped means stopped: the port no longer answers.
    assert!(client.get(format!("{base}/healthz")).send().await.is_err());
}

#[test]
fn a_numeric_setting_out_of_its_bounds_stops_the_binary_at_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    for (variable, value, bounds) in [
        (
            "SPOTLIGHT_SHUTDOWN_GRACE_SECS",
            "18446744073709551615",
            "from 0 to 3600",
        ),
        ("SPOTLIGHT_MAX_BODY_BYTES", "0", "from 1024 to 16777216"),
        ("SPOTLIGHT_MAX_CONNECTIONS", "0", "from 1 to 65536"),
        ("SPOTLIGHT_OPEN_TENANT_FILES", "-1", "from 1 to 100000"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_control-plane"))
            .env_clear()
            .env("SPOTLIGHT_DATA_DIR", dir.path())
            .env("SPOTLIGHT_CONTROL_PLANE_ADDR", "127.0.0.1:0")
            .env("SPOTLIGHT_CONFIG", dir.path().join("absent.toml"))
            .env(variable, value)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .output()
            .expect("control-plane binary runs");
        assert!(!out.status.success(), "{variable}={value} was accepted");
        assert!(out.stdout.is_empty(), "it never listened");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(variable), "{stderr}");
        assert!(stderr.contains(bounds), "{stderr}");
        assert!(stderr.contains(value), "{stderr}");
    }
}
