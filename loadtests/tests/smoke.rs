//! The CI smoke run of the load generator: five real WebRTC calls through `vidid serve` for
//! ten seconds; zero loss, every recording complete with the right tones, sane figures.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails where it unwraps"
)]

use std::process::Command;

#[test]
fn five_calls_ten_seconds() {
    let out = Command::new(env!("CARGO_BIN_EXE_vidid-load"))
        .args(["smoke", "--calls", "5", "--seconds", "10"])
        .output()
        .expect("run vidid-load");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "smoke failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("a json report");
    assert_eq!(report["lost_video"], 0, "{report}");
    assert_eq!(report["recordings_checked"], 5, "{report}");
    println!("{report}");
}
