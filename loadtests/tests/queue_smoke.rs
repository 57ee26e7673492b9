//! The CI smoke run of the queue benchmark: 200 customers waiting on `/ws/queue` of the debug
//! `vidid serve`, 20 samples of leave, join and take. Asserts sanity, never timing: every
//! customer got a position, the first positions are exactly 1..200, the agent took the first
//! customer each time and nobody twice, every fan-out completed, no errors.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails where it unwraps"
)]

use std::process::Command;

#[test]
fn two_hundred_waiting_twenty_samples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("queue-results.json");
    let md = dir.path().join("BENCHMARKS.md");
    let out = Command::new(env!("CARGO_BIN_EXE_vidid-load"))
        .args(["queue", "--customers", "200", "--samples", "20"])
        .args(["--phase-budget-secs", "60", "--settle-timeout-secs", "30"])
        .arg("--json")
        .arg(&json)
        .arg("--markdown")
        .arg(&md)
        .output()
        .expect("run vidid-load");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "queue smoke failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let rows: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("results written"))
            .expect("results are JSON");
    let r = &rows[0];
    let c = &r["checks"];
    assert_eq!(r["customers"], 200, "{r}");
    assert_eq!(c["all_positioned"], true, "{r}");
    assert_eq!(c["positions_permutation"], true, "{r}");
    for k in [
        "position_mismatches",
        "taken_twice",
        "taken_out_of_order",
        "timeouts",
        "errors",
    ] {
        assert_eq!(c[k], 0, "{k}: {r}");
    }
    for op in [
        "join",
        "join_first_position",
        "leave",
        "leave_fanout",
        "take",
        "take_fanout",
        "take_call_ready",
    ] {
        assert_eq!(r[op]["n"], 20, "{op}: {r}");
        assert!(r[op]["p50_ms"].as_f64().unwrap() > 0.0, "{op}: {r}");
    }
    let md = std::fs::read_to_string(&md).expect("markdown written");
    assert!(md.contains("## Signaling: queue at N waiting"), "{md}");
    println!("{stdout}");
}
