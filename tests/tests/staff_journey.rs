//! End-to-end: the staff pages in real Chromium against the real `vidid serve`
//! (`tests/browser/journey-staff.mjs` drives them).
//!
//! (1) A customer goes from the link to approval while an agent works the console: signs in,
//!     available, takes the customer, the call connects with video, three snapshots, the
//!     checklist in order, the TAN sent by SMS (the driver reads it from the outbox) and entered,
//!     approved; the customer hears the result with the e-signing URL; the case is `approved`.
//! (2) Then a compliance officer finds that case by a name fragment, states a purpose, views it
//!     (audit trail on the page), plays the recording (the `<audio>` element plays) and downloads
//!     the WAV (a stereo WAV); every access is in the case's audit trail with its purpose.
//! (3) An agent who opens the compliance portal is refused (and the API answers 403).
//! (4) A supervisor's board shows the call in progress (1), a queued customer and the agent's
//!     state as it changes.
//! (5) The console resumes the call after a reload; a failed check is shown as failed and holds
//!     the later steps until it is redone; the customer types the TAN on their own page and the
//!     console sees it; the agent aborts with a reason and a note.
//!
//! Screenshots of every main screen at desktop (1280×800) and phone (390×844) size go to
//! `target/e2e-artifacts/staff_*/`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails where it unwraps"
)]

use std::path::Path;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use vidid_e2e::journey::{CaseLink, OPEN_HOURS, start_server_at};
use vidid_e2e::{
    DriverOutcome, Server, ServerOptions, analyze_wav, artifacts_dir, browser_lock, http_request,
    run_driver, skip_browser_tests,
};

const NAME: &str = "Špela Novak Kovačič";
const DRIVER_TIMEOUT_SECS: u64 = 240;

fn start(artifacts: &Path) -> Server {
    start_server_at(
        OPEN_HOURS,
        ServerOptions {
            artifacts_dir: Some(artifacts.to_path_buf()),
            ..ServerOptions::default()
        },
    )
    .expect("vidid serve starts")
}

/// A staff session cookie, signed in over the API.
fn login(server: &Server, username: &str, password: &str) -> Result<String> {
    let body = serde_json::to_vec(&json!({"username": username, "password": password}))?;
    let r = http_request(
        "POST",
        &format!("{}/api/v1/session", server.base_url()),
        &[("Content-Type", "application/json")],
        Some(&body),
    )?;
    ensure!(
        r.status == 200,
        "login {username}: HTTP {}: {}",
        r.status,
        r.text()
    );
    let set = r.header("set-cookie").context("no Set-Cookie")?;
    Ok(set.split(';').next().unwrap_or_default().to_string())
}

fn staff_get(server: &Server, cookie: &str, path: &str) -> Result<(u16, Value)> {
    let r = http_request(
        "GET",
        &format!("{}{path}", server.base_url()),
        &[("Cookie", cookie)],
        None,
    )?;
    let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    Ok((r.status, v))
}

fn customer_args(case: &CaseLink) -> Value {
    json!({
        "caseId": case.id,
        "token": case.token,
        "link": case.link,
        "name": NAME,
        "dateOfBirth": "1985-04-12",
        "documentNumber": "IA1234567",
        "lang": "sl",
        "esignUrl": "https://esign.example.com/sign/abc",
    })
}

fn drive(server: &Server, artifacts: &Path, args: Value) -> Result<DriverOutcome> {
    let mut args = args;
    args["baseUrl"] = json!(server.base_url());
    args["artifactsDir"] = json!(artifacts);
    args["timeoutSecs"] = json!(DRIVER_TIMEOUT_SECS);
    let out = run_driver(
        "journey-staff.mjs",
        &args,
        artifacts,
        DRIVER_TIMEOUT_SECS,
        |ev| {
            eprintln!("[driver] {ev}");
            Ok(())
        },
    )?;
    ensure!(out.ok(), "the driver failed:\n{}", out.describe());
    Ok(out)
}

/// The audit events of a case, parsed (`event` is stored as compact JSON).
fn audit_events(trail: &Value) -> Vec<Value> {
    trail["entries"]
        .as_array()
        .map(|es| {
            es.iter()
                .filter_map(|e| e["event"].as_str())
                .filter_map(|s| serde_json::from_str(s).ok())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn agent_approves_and_compliance_reviews() {
    let name = "staff_approval_and_review";
    if skip_browser_tests(name) {
        return;
    }
    let _lock = browser_lock().expect("browser test lock");
    let artifacts = artifacts_dir(name).expect("artifacts dir");
    let server = start(&artifacts);
    if let Err(e) = approval_and_review(&server, &artifacts) {
        panic!(
            "{name} failed: {e:?}\n(artifacts in {})",
            artifacts.display()
        );
    }
}

fn approval_and_review(server: &Server, artifacts: &Path) -> Result<()> {
    let agent_pw = server.add_user("anna", "agent")?;
    let comp_pw = server.add_user("cora", "compliance")?;
    let sup_pw = server.add_user("sam", "supervisor")?;
    let case = server.create_case(NAME, json!({}))?;

    let out = drive(
        server,
        artifacts,
        json!({
            "scenario": "approval",
            "customer": customer_args(&case),
            "agent": {"username": "anna", "password": agent_pw},
            "compliance": {"username": "cora", "password": comp_pw},
            "supervisor": {"username": "sam", "password": sup_pw},
            "outboxPath": server.sms_outbox(),
        }),
    )?;
    let r = &out.result;

    // (1) The case is approved, with the whole checklist, snapshots and the TAN.
    let c = server.api("GET", &format!("/api/v1/cases/{}", case.id), None)?;
    let c = c.json()?;
    ensure!(c["state"] == "approved", "case state: {c}");
    let sms = server.sms_messages()?;
    let tan_sms: Vec<&Value> = sms.iter().filter(|m| m["case_id"] == case.id).collect();
    ensure!(tan_sms.len() == 1, "one TAN SMS expected: {sms:?}");
    let code = r["approval"]["tanCode"].as_str().unwrap_or_default();
    ensure!(
        !code.is_empty() && tan_sms[0]["text"].as_str().unwrap_or("").contains(code),
        "the code entered ({code}) is the one sent: {:?}",
        tan_sms[0]
    );
    // The customer was told, with the e-signing URL.
    let cr = &r["approval"]["customerResult"];
    let redirect = cr["redirect_url"]
        .as_str()
        .or(cr["redirectedTo"].as_str())
        .unwrap_or_default();
    ensure!(
        redirect.starts_with("https://esign.example.com/sign/abc"),
        "customer result: {cr}"
    );
    // The console showed the order of the flow: only the first step open at the start.
    let order: Vec<&str> = r["approval"]["order"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    ensure!(
        order.first() == Some(&"alone_in_room:current")
            && order[1..].iter().all(|s| s.ends_with(":locked")),
        "steps at the start of the checks: {order:?}"
    );
    // The supervisor's board showed the call while it ran.
    let board = &r["approval"]["boardDuringCall"];
    ensure!(
        board["callsTile"] == "1"
            && board["calls"][0]
                .as_str()
                .is_some_and(|t| t.contains("anna")),
        "the board during the call: {board}"
    );
    // The quality panel measured the customer's video.
    let q = &r["approval"]["quality"];
    ensure!(
        q["kbps"].as_f64().unwrap_or(0.0) > 50.0
            && q["fps"].as_f64().unwrap_or(0.0) > 5.0
            && q["width"].as_u64().unwrap_or(0) >= 320,
        "call quality: {q}"
    );
    ensure!(
        r["approval"]["instructionSeen"]
            .as_str()
            .is_some_and(|t| t.contains("kamero")),
        "the Slovenian instruction reached the customer: {}",
        r["approval"]["instructionSeen"]
    );

    // (2) The compliance officer's view, play and download are in the audit trail.
    let cookie = login(server, "cora", &comp_pw)?;
    let (status, trail) = staff_get(server, &cookie, &format!("/api/v1/cases/{}/audit", case.id))?;
    ensure!(status == 200, "audit: HTTP {status}: {trail}");
    ensure!(trail["verified"] == true, "the trail verifies: {trail}");
    let events = audit_events(&trail);
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    for t in [
        "call_taken",
        "checks_started",
        "snapshot_taken",
        "tan_sent",
        "tan_verified",
        "approved",
    ] {
        ensure!(types.contains(&t), "{t} missing from the trail: {types:?}");
    }
    let snaps = events
        .iter()
        .filter(|e| e["type"] == "snapshot_taken")
        .filter_map(|e| e["kind"].as_str())
        .collect::<Vec<_>>();
    for k in ["face", "document_front", "document_back"] {
        ensure!(snaps.contains(&k), "snapshot {k} missing: {snaps:?}");
    }
    let accesses: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "evidence_accessed")
        .collect();
    let purpose = "AML review: spot check of approved identifications, ticket CMP-2026-118";
    for action in ["view", "play", "download"] {
        ensure!(
            accesses
                .iter()
                .any(|e| e["access"].as_str().is_some_and(|a| a.contains(action))
                    && e["purpose"] == purpose),
            "no {action} access with the purpose in the trail: {accesses:?}"
        );
    }
    // The downloaded file is the stereo recording.
    let file = r["compliance"]["download"]
        .as_str()
        .context("no downloaded file")?;
    let wav = analyze_wav(Path::new(file))?;
    ensure!(
        wav.channels == 2 && wav.duration_ms > 2000,
        "downloaded WAV: {} channels, {} ms",
        wav.channels,
        wav.duration_ms
    );
    let played = &r["compliance"]["played"];
    ensure!(
        played["currentTime"].as_f64().unwrap_or(0.0) > 1.0 && played["error"].is_null(),
        "the audio element played: {played}"
    );
    ensure!(
        r["compliance"]["dossier"]["evidence"].as_u64().unwrap_or(0) >= 3,
        "the dossier shows the snapshots: {}",
        r["compliance"]["dossier"]
    );
    Ok(())
}

#[test]
fn failed_check_customer_typed_tan_and_abort() {
    let name = "staff_failed_check_and_abort";
    if skip_browser_tests(name) {
        return;
    }
    let _lock = browser_lock().expect("browser test lock");
    let artifacts = artifacts_dir(name).expect("artifacts dir");
    let server = start(&artifacts);
    if let Err(e) = failed_check_and_abort(&server, &artifacts) {
        panic!(
            "{name} failed: {e:?}\n(artifacts in {})",
            artifacts.display()
        );
    }
}

fn failed_check_and_abort(server: &Server, artifacts: &Path) -> Result<()> {
    let agent_pw = server.add_user("ana", "agent")?;
    let case = server.create_case(NAME, json!({}))?;
    let out = drive(
        server,
        artifacts,
        json!({
            "scenario": "abort",
            "customer": customer_args(&case),
            "agent": {"username": "ana", "password": agent_pw},
            "outboxPath": server.sms_outbox(),
        }),
    )?;
    let a = &out.result["abort"];
    ensure!(
        a["failedBadge"]
            .as_str()
            .is_some_and(|t| t.contains("Failed")),
        "the failed check is shown: {a}"
    );
    ensure!(
        a["resumed"] == true,
        "the console resumed the call after a reload: {a}"
    );
    ensure!(
        a["tanLockedAfterFailure"] == "locked",
        "the steps after a failed one wait: {a}"
    );
    ensure!(
        a["noReason"].as_str().is_some_and(|t| !t.is_empty()),
        "an abort without a reason is refused by the page: {a}"
    );
    ensure!(
        a["customerResult"]["state"] == "aborted",
        "the customer is told: {a}"
    );
    let c = server
        .api("GET", &format!("/api/v1/cases/{}", case.id), None)?
        .json()?;
    ensure!(
        // The journey page may already have queued the customer again for the next attempt.
        (c["state"] == "aborted" || c["state"] == "queued")
            && c["attempts"] == 1
            && c["last_abort"] == "third_party_suspected"
            && c["retries_left"] == 2,
        "case: {c}"
    );
    // The trail: the failed check with the observation, the customer's own TAN entry, the abort.
    let sup_pw = server.add_user("sam", "supervisor")?;
    let cookie = login(server, "sam", &sup_pw)?;
    let (status, trail) = staff_get(server, &cookie, &format!("/api/v1/cases/{}/audit", case.id))?;
    ensure!(status == 200, "audit: HTTP {status}: {trail}");
    let events = audit_events(&trail);
    ensure!(
        events.iter().any(|e| e["type"] == "check_recorded"
            && e["item"] == "document_back"
            && e["passed"] == false
            && e["answer"]["observation"]
                .as_str()
                .is_some_and(|o| o.contains("laminate"))),
        "the failed check in the trail: {events:?}"
    );
    let verified_by: Vec<&str> = trail["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            e["event"]
                .as_str()
                .is_some_and(|s| s.contains("\"tan_verified\""))
        })
        .filter_map(|e| e["actor_role"].as_str())
        .collect();
    ensure!(
        verified_by == ["customer"],
        "the TAN was verified by the customer's own entry: {verified_by:?}"
    );
    ensure!(
        events.iter().any(|e| e["type"] == "aborted"
            && e["reason"] == "third_party_suspected"
            && e["note"]
                .as_str()
                .is_some_and(|n| n.contains("second voice"))),
        "the abort in the trail: {events:?}"
    );
    Ok(())
}

#[test]
fn agent_is_refused_by_the_portal_and_the_board_shows_the_queue() {
    let name = "staff_refusal_and_board";
    if skip_browser_tests(name) {
        return;
    }
    let _lock = browser_lock().expect("browser test lock");
    let artifacts = artifacts_dir(name).expect("artifacts dir");
    let server = start(&artifacts);
    if let Err(e) = refusal_and_board(&server, &artifacts) {
        panic!(
            "{name} failed: {e:?}\n(artifacts in {})",
            artifacts.display()
        );
    }
}

fn refusal_and_board(server: &Server, artifacts: &Path) -> Result<()> {
    let agent_pw = server.add_user("boris", "agent")?;
    let sup_pw = server.add_user("sara", "supervisor")?;
    let case = server.create_case(NAME, json!({}))?;

    // The API refuses the agent what the portal refuses.
    let cookie = login(server, "boris", &agent_pw)?;
    let (status, body) = staff_get(server, &cookie, "/api/v1/cases?q=Nov")?;
    ensure!(
        status == 403 && body["error"] == "forbidden",
        "an agent searching cases: HTTP {status}: {body}"
    );

    let out = drive(
        server,
        artifacts,
        json!({
            "scenario": "board",
            "customer": customer_args(&case),
            "agent": {"username": "boris", "password": agent_pw},
            "supervisor": {"username": "sara", "password": sup_pw},
        }),
    )?;
    let b = &out.result["board"];
    ensure!(
        b["refusal"]
            .as_str()
            .is_some_and(|t| t.contains("Not permitted")),
        "refusal: {b}"
    );
    ensure!(b["searchHidden"] == true, "the search stays hidden: {b}");
    let places: Vec<&str> = b["seen"]["places"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    ensure!(places.contains(&case.id.as_str()), "board queue: {b}");
    // The server agrees: the customer is still queued.
    let c = server
        .api("GET", &format!("/api/v1/cases/{}", case.id), None)?
        .json()?;
    ensure!(c["state"] == "queued", "case: {c}");
    Ok(())
}
