//! End-to-end: the customer's journey page (`/customer?case=<link token>`) in headless Chromium
//! with a fake camera and microphone, against the real `vidid serve` with its cases clock set.
//!
//! (1) `whole_journey_to_an_approved_call`: the preparation through the UI (phone size) to the
//!     queue; an agent (REST) takes the customer, the bare agent call page joins, video flows,
//!     an instruction is shown, the TAN is typed, the agent approves and the page goes on to
//!     e-signing.
//! (2) `outside_hours_prepare_but_not_queue`: Saturday: the next opening is shown, a refused
//!     camera is explained, the preparation works (a swapped name is explained and corrected), the queue says when it
//!     opens, at desktop size.
//! (3) `expired_link_shows_the_expiry_page`: the server restarted three days later on the same
//!     data: the expiry page.
//! (4) `dropped_customer_keeps_the_place`: two customers queued; the first one goes offline for a
//!     few seconds and then reloads the page: place 1 each time.
//! (5) `aborted_call_goes_back_to_the_queue`: the page is reloaded during the call and joins it
//!     again; the agent aborts for bad light: the customer is queued again and told why; the
//!     second attempt is rejected: the page says what to do next, also after a reload.
//!
//! The driver is `tests/browser/journey-customer.mjs` (helpers in `customer.mjs`); screenshots
//! of each step go to `target/e2e-artifacts/customer_journey_<scenario>/`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails where it unwraps"
)]

use std::path::PathBuf;

use anyhow::{Result, ensure};
use serde_json::{Value, json};
use vidid_e2e::journey::{CaseLink, OPEN_HOURS, WEEKEND, start_server_at};
use vidid_e2e::{
    DriverOutcome, Server, ServerOptions, artifacts_dir, browser_driver_dir, browser_lock,
    run_driver, skip_browser_tests,
};

const NAME: &str = "Janez Novak";
const DOB: &str = "1985-04-12";
const DOC: &str = "IA1234567";
const DRIVER_TIMEOUT_SECS: u64 = 150;

fn photo() -> PathBuf {
    browser_driver_dir().join("fixtures").join("id-card.jpg")
}

fn case_args(c: &CaseLink) -> Value {
    json!({"id": c.id, "token": c.token, "link": c.link})
}

/// Runs one scenario of the driver and fails the test with the driver's account if it failed.
fn drive(
    scenario: &str,
    server: &Server,
    cases: &[&CaseLink],
    extra: Value,
    artifacts: &std::path::Path,
) -> Result<DriverOutcome> {
    let mut args = json!({
        "baseUrl": server.base_url(),
        "scenario": scenario,
        "cases": cases.iter().map(|c| case_args(c)).collect::<Vec<_>>(),
        "customer": {"name": NAME, "dateOfBirth": DOB, "documentNumber": DOC},
        "apiKey": server.api_key(),
        "smsOutbox": server.sms_outbox(),
        "photoPath": photo(),
        "artifactsDir": artifacts,
        "timeoutSecs": DRIVER_TIMEOUT_SECS,
    });
    if let (Some(a), Some(e)) = (args.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            a.insert(k.clone(), v.clone());
        }
    }
    let out = run_driver(
        "journey-customer.mjs",
        &args,
        artifacts,
        DRIVER_TIMEOUT_SECS,
        |ev| {
            eprintln!("[driver] {ev}");
            Ok(())
        },
    )?;
    ensure!(out.ok(), "the journey driver failed:\n{}", out.describe());
    // Every control on every screenshotted step has an accessible name.
    let unlabelled = &out.result["checks"]["unlabelled"];
    ensure!(
        unlabelled.as_object().is_some_and(|m| m.is_empty()),
        "controls without an accessible name: {unlabelled}"
    );
    Ok(out)
}

/// `GET /api/v1/cases/{id}` with the API key.
fn case_state(server: &Server, id: &str) -> Result<Value> {
    let r = server.api("GET", &format!("/api/v1/cases/{id}"), None)?;
    ensure!(r.status == 200, "GET case: HTTP {} {}", r.status, r.text());
    r.json()
}

fn check_str<'a>(out: &'a DriverOutcome, key: &str) -> &'a str {
    out.result
        .pointer(&format!("/checks/{key}"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

struct Setup {
    _lock: std::fs::File,
    artifacts: PathBuf,
}

fn setup(test: &str) -> Option<Setup> {
    if skip_browser_tests(test) {
        return None;
    }
    let lock = browser_lock().expect("browser test lock");
    let artifacts = artifacts_dir(test).expect("artifacts dir");
    Some(Setup {
        _lock: lock,
        artifacts,
    })
}

fn agent(server: &Server) -> Result<Value> {
    let password = server.add_user("anna", "agent")?;
    Ok(json!({"agent": {"username": "anna", "password": password}}))
}

#[test]
fn whole_journey_to_an_approved_call() -> Result<()> {
    let Some(s) = setup("customer_journey_full") else {
        return Ok(());
    };
    let server = start_server_at(
        OPEN_HOURS,
        ServerOptions {
            artifacts_dir: Some(s.artifacts.clone()),
            ..ServerOptions::default()
        },
    )?;
    let esign = format!("{}/healthz?esign=1", server.base_url());
    let case = server.create_case(NAME, json!({"esign_url": esign}))?;
    let mut extra = agent(&server)?;
    extra["esignUrl"] = json!(esign);
    extra["viewport"] = json!("phone");
    let out = drive("full", &server, &[&case], extra, &s.artifacts)?;

    let c = &out.result["checks"];
    assert_eq!(c["queuePosition"], 1, "{c}");
    assert_eq!(c["stateQueued"], "queued", "{c}");
    assert!(c["remoteVideo"]["width"].as_u64().unwrap_or(0) > 0, "{c}");
    assert_eq!(c["agentState"], "connected", "{c}");
    assert!(
        check_str(&out, "waitText").contains("min"),
        "no wait estimate shown: {c}"
    );
    assert_eq!(c["result"]["state"], "approved", "{c}");
    assert!(
        check_str(&out, "redirectedTo").starts_with(&esign),
        "not redirected to e-signing: {c}"
    );
    if c["tanEndpoint"] == json!(true) {
        assert_eq!(c["tanWrong"]["result"], "wrong", "{c}");
        assert_eq!(c["tan"]["result"], "accepted", "{c}");
    } else {
        eprintln!("!!! POST /api/v1/customer/tan is missing: the TAN was verified by the agent");
    }
    let v = case_state(&server, &case.id)?;
    assert_eq!(v["state"], "approved", "{v}");
    assert_eq!(v["photo_uploaded"], true, "{v}");
    assert!(v["data_confirmed_at"].is_string(), "{v}");
    Ok(())
}

#[test]
fn outside_hours_prepare_but_not_queue() -> Result<()> {
    let Some(s) = setup("customer_journey_weekend") else {
        return Ok(());
    };
    let server = start_server_at(
        WEEKEND,
        ServerOptions {
            artifacts_dir: Some(s.artifacts.clone()),
            ..ServerOptions::default()
        },
    )?;
    let case = server.create_case(NAME, json!({}))?;
    let out = drive(
        "weekend",
        &server,
        &[&case],
        json!({"viewport": "desktop"}),
        &s.artifacts,
    )?;
    let c = &out.result["checks"];
    // Saturday 28 November: the queue opens on Monday 30 November at 10:00.
    let hours = check_str(&out, "hoursText");
    assert!(
        hours.contains("ponedeljek") && hours.contains("30. november") && hours.contains("10"),
        "next opening not shown: {hours:?}"
    );
    let en = check_str(&out, "hoursTextEn");
    assert!(
        en.contains("Monday") && en.contains("30 November"),
        "{en:?}"
    );
    assert_eq!(c["langEn"], "en", "{c}");
    assert!(
        check_str(&out, "deniedText").contains("dovoljenja"),
        "no help for a refused camera: {c}"
    );
    assert_eq!(c["deniedButton"], "Poskusi znova", "{c}");
    assert_eq!(c["deniedContinueHidden"], true, "{c}");
    assert_eq!(c["inappShown"], true, "{c}");
    assert!(
        check_str(&out, "badTypeText").contains("JPEG"),
        "a text file was not refused: {c}"
    );
    assert!(c["hugeBytes"].as_u64().unwrap_or(0) > 8 << 20, "{c}");
    assert!(
        c["downscaled"]["to"].as_u64().is_some_and(|b| b <= 8 << 20),
        "a big photo was not made smaller: {c}"
    );
    assert_eq!(c["consentRefused"], true, "{c}");
    // Keyboard: heading focused on arrival, Tab → the box → the button; a refusal focuses the box.
    assert_eq!(c["consentFocusStart"], "consent-title", "{c}");
    assert_eq!(c["consentFocusTab1"], "consent-check", "{c}");
    assert_eq!(c["consentFocusTab2"], "consent-continue", "{c}");
    assert_eq!(c["consentFocusRefused"], "consent-check", "{c}");
    assert!(
        c["differences"].as_array().is_some_and(|d| !d.is_empty()),
        "{c}"
    );
    assert_eq!(c["closedShown"], true, "{c}");
    assert!(
        check_str(&out, "closedText").contains("30. november"),
        "{c}"
    );
    assert!(
        check_str(&out, "queueClosed").starts_with("2026-11-30T10:00"),
        "{c}"
    );
    assert_eq!(c["afterReload"], "queue", "{c}");
    let v = case_state(&server, &case.id)?;
    assert_eq!(v["state"], "prepared", "{v}");
    Ok(())
}

#[test]
fn expired_link_shows_the_expiry_page() -> Result<()> {
    let Some(s) = setup("customer_journey_expired") else {
        return Ok(());
    };
    // The data directory outlives the first server.
    let keep = tempfile::Builder::new()
        .prefix("vidid-e2e-keep-")
        .tempdir()?;
    let data = keep.path().join("data");
    let mut server = start_server_at(
        OPEN_HOURS,
        ServerOptions {
            artifacts_dir: Some(s.artifacts.join("first")),
            data_dir: Some(data.clone()),
            ..ServerOptions::default()
        },
    )?;
    let case = server.create_case(NAME, json!({}))?;
    server.stop();
    drop(server);
    // Three days later.
    let server = start_server_at(
        "2026-11-27T11:00:00+01:00",
        ServerOptions {
            artifacts_dir: Some(s.artifacts.clone()),
            data_dir: Some(data),
            ..ServerOptions::default()
        },
    )?;
    let r = vidid_e2e::http_request(
        "GET",
        &format!("{}/api/v1/customer", server.base_url()),
        &[("X-Case-Token", case.token.as_str())],
        None,
    )?;
    assert_eq!(r.status, 410, "{}", r.text());
    let out = drive("expired", &server, &[&case], json!({}), &s.artifacts)?;
    let c = &out.result["checks"];
    assert_eq!(c["title_phone"], "Povezava je potekla", "{c}");
    assert!(check_str(&out, "at_phone").contains("2026"), "{c}");
    assert_eq!(c["focus_phone"], "expired-title", "{c}");
    Ok(())
}

#[test]
fn dropped_customer_keeps_the_place() -> Result<()> {
    let Some(s) = setup("customer_journey_dropped") else {
        return Ok(());
    };
    let server = start_server_at(
        OPEN_HOURS,
        ServerOptions {
            artifacts_dir: Some(s.artifacts.clone()),
            ..ServerOptions::default()
        },
    )?;
    let first = server.create_case(NAME, json!({}))?;
    let second = server.create_case("Marija Kovač", json!({}))?;
    let mut extra = agent(&server)?;
    extra["viewport"] = json!("desktop");
    extra["customer2"] = json!({"name": "Marija Kovač"});
    let out = drive("dropped", &server, &[&first, &second], extra, &s.artifacts)?;
    let c = &out.result["checks"];
    assert_eq!(c["secondPosition"], 2, "{c}");
    assert_eq!(c["serverSawDisconnect"], true, "{c}");
    assert_eq!(c["afterReconnect"]["position"], 1, "{c}");
    assert_eq!(c["afterReload"]["position"], 1, "{c}");
    assert_eq!(c["afterReload"]["step"], "queue", "{c}");
    let v = case_state(&server, &first.id)?;
    assert_eq!(v["state"], "queued", "{v}");
    Ok(())
}

#[test]
fn aborted_call_goes_back_to_the_queue() -> Result<()> {
    let Some(s) = setup("customer_journey_aborted") else {
        return Ok(());
    };
    let server = start_server_at(
        OPEN_HOURS,
        ServerOptions {
            artifacts_dir: Some(s.artifacts.clone()),
            ..ServerOptions::default()
        },
    )?;
    let case = server.create_case(NAME, json!({"language": "en"}))?;
    let mut extra = agent(&server)?;
    extra["viewport"] = json!("desktop");
    let out = drive("aborted", &server, &[&case], extra, &s.artifacts)?;
    let c = &out.result["checks"];
    assert_eq!(c["result"]["state"], "aborted", "{c}");
    assert_eq!(c["reconnectedAfterReload"], true, "{c}");
    assert_eq!(c["whyShown"], true, "{c}");
    assert!(
        check_str(&out, "why").contains("not enough light"),
        "the reason is not shown: {c}"
    );
    assert_eq!(c["position"], 1, "{c}");
    assert_eq!(c["state"], "queued", "after the abort: {c}");
    assert_eq!(c["attempts"], 1, "{c}");
    // The second attempt was rejected.
    assert_eq!(c["rejected"]["result"]["state"], "rejected", "{c}");
    assert_eq!(
        c["rejected"]["title"], "Your identity could not be confirmed",
        "{c}"
    );
    assert_eq!(c["requeueHidden"], true, "{c}");
    assert_eq!(c["rejectedAfterReload"], "rejected", "{c}");
    let v = case_state(&server, &case.id)?;
    assert_eq!(v["state"], "rejected", "{v}");
    assert_eq!(v["attempts"], 2, "{v}");
    Ok(())
}
