//! `deploy/check.sh` as a test: the compose file, the Helm chart (lint, template, Kubernetes
//! schemas), the Grafana dashboard's metric names, the Dockerfile and the systemd units are
//! validated with the tools `scripts/setup.sh` installs. A failure shows the script's output.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails where it unwraps"
)]

use std::process::Command;

use vidid_e2e::workspace_root;

#[test]
fn deploy_directory_validates() {
    let root = workspace_root();
    let out = Command::new("bash")
        .arg(root.join("deploy/check.sh"))
        .current_dir(&root)
        .output()
        .expect("run bash deploy/check.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "deploy/check.sh failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("deploy/check.sh: all checks passed"),
        "deploy/check.sh did not finish:\n{stdout}\n{stderr}"
    );
    // Shown with --no-capture: what was checked, and the notes (pending metrics, skipped tools).
    println!("{stdout}");
}
