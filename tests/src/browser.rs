//! The browser side: the skip switch ([`skip_browser_tests`]), the lock that runs one browser
//! test at a time ([`browser_lock`]), and the Node drivers in `tests/browser/` — [`drive_call`]
//! runs `call.mjs` (puppeteer-core: system Chromium over CDP, Firefox ESR over WebDriver BiDi)
//! with a [`CallArgs`] of two [`Side`]s; [`run_driver`] runs any driver of the same JSON-lines
//! convention. Both return a [`DriverOutcome`]; the driver's arguments and stderr are kept in
//! the test's artifacts directory.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, ensure};
use serde::Serialize;
use serde_json::Value;

use crate::server::terminate;
use crate::{tail, target_dir, workspace_root};

/// True (and says so, loudly) when `VIDID_SKIP_BROWSER=1`: the only way a browser test skips.
/// Missing browsers are a failure otherwise.
pub fn skip_browser_tests(test: &str) -> bool {
    let skip = std::env::var("VIDID_SKIP_BROWSER").is_ok_and(|v| v == "1");
    if skip {
        let banner = "!".repeat(78);
        eprintln!(
            "{banner}\n!!! SKIPPED {test}: VIDID_SKIP_BROWSER=1 (no browser was started)\n{banner}"
        );
    }
    skip
}

/// Serializes the browser tests across processes (nextest runs each test in its own process;
/// two browser pairs at once are too much for a 2-core machine). Held until dropped.
pub fn browser_lock() -> Result<File> {
    let dir = target_dir().join("e2e-artifacts");
    fs::create_dir_all(&dir)?;
    let path = dir.join(".browser-tests.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.lock()
        .with_context(|| format!("locking {}", path.display()))?;
    Ok(file)
}

/// Which browser one side of the call uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Browser {
    Chromium,
    Firefox,
}

/// One side of the call for [`drive_call`].
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    /// The page, relative to the base URL (`/customer?token=…`) or absolute.
    pub url: String,
    pub browser: Browser,
    /// Chromium's fake microphone (a WAV file, looped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wav: Option<PathBuf>,
    /// Firefox's generated fake-microphone tone (`media.navigator.audio.fake_frequency`).
    #[serde(rename = "toneHz", skip_serializing_if = "Option::is_none")]
    pub tone_hz: Option<u32>,
    /// The page's trickled candidates never reach the server (as if unreachable): the server
    /// must learn the browser's address from its connectivity checks (peer-reflexive).
    #[serde(rename = "hideCandidates", skip_serializing_if = "std::ops::Not::not")]
    pub hide_candidates: bool,
}

/// The arguments of `tests/browser/call.mjs` (see that file).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallArgs {
    pub base_url: String,
    pub customer: Side,
    pub agent: Side,
    pub duration_secs: f64,
    pub samples: u32,
    pub artifacts_dir: PathBuf,
    pub connect_timeout_secs: u64,
    /// Press the agent page's "End call" button once sampled.
    pub click_end_call: bool,
    pub wait_for_end: bool,
    pub end_timeout_secs: u64,
    pub timeout_secs: u64,
}

/// What the driver printed and how it ended.
#[derive(Debug, Clone)]
pub struct DriverOutcome {
    /// The final `{"event":"result", ...}` line.
    pub result: Value,
    /// Every JSON line, in order (including the result).
    pub events: Vec<Value>,
    pub status: Option<ExitStatus>,
    pub stderr_path: PathBuf,
}

impl DriverOutcome {
    pub fn ok(&self) -> bool {
        self.result.get("ok").and_then(Value::as_bool) == Some(true)
    }

    /// A number at a JSON pointer into the result (`/customer/stats/growth/inbound/audio/bytesReceived`).
    pub fn num(&self, pointer: &str) -> Option<f64> {
        self.result.pointer(pointer).and_then(Value::as_f64)
    }

    pub fn str(&self, pointer: &str) -> Option<&str> {
        self.result.pointer(pointer).and_then(Value::as_str)
    }

    /// A readable account for failure messages: the error, the driver's stderr tail, the result.
    pub fn describe(&self) -> String {
        let stderr = fs::read_to_string(&self.stderr_path).unwrap_or_default();
        format!(
            "driver exit: {:?}\nerror: {}\n--- driver stderr (tail) ---\n{}\n--- result ---\n{}",
            self.status,
            self.result
                .get("error")
                .map_or("none".to_string(), Value::to_string),
            tail(&stderr, 80),
            serde_json::to_string_pretty(&self.result).unwrap_or_default()
        )
    }
}

/// The directory of the Node driver, with its `node_modules` (installed by `scripts/setup.sh`).
pub fn browser_driver_dir() -> PathBuf {
    workspace_root().join("tests").join("browser")
}

/// Runs `node tests/browser/call.mjs` with `args`. `on_event` sees each JSON progress line
/// (`connected`, `sampled`) as it arrives, e.g. to end the call while the pages are still open;
/// an error from it stops the driver. Returns when the driver has exited.
pub fn drive_call(
    args: &CallArgs,
    on_event: impl FnMut(&Value) -> Result<()>,
) -> Result<DriverOutcome> {
    let dir = browser_driver_dir();
    ensure!(
        dir.join("node_modules").join("puppeteer-core").is_dir(),
        "{}/node_modules/puppeteer-core is missing: run scripts/setup.sh (npm ci in tests/browser)",
        dir.display()
    );
    for (name, side) in [("customer", &args.customer), ("agent", &args.agent)] {
        let bin = match side.browser {
            Browser::Chromium => "/usr/bin/chromium",
            Browser::Firefox => "/usr/bin/firefox-esr",
        };
        ensure!(
            Path::new(bin).exists(),
            "{bin} (the {name}'s browser) is missing: run scripts/setup.sh, or set VIDID_SKIP_BROWSER=1 to skip"
        );
    }
    run_driver(
        "call.mjs",
        &serde_json::to_value(args)?,
        &args.artifacts_dir,
        args.timeout_secs,
        on_event,
    )
}

/// Runs `node tests/browser/<script> --args-file <artifacts>/driver-args.json`: a driver that
/// prints JSON lines on stdout and a final `{"event":"result","ok":…}` (the convention of
/// `call.mjs`). `on_event` sees every other line as it arrives; an error from it stops the
/// driver. `timeout_secs` is the driver's own limit; a driver that hangs past it plus a minute
/// is stopped.
pub fn run_driver(
    script: &str,
    args: &Value,
    artifacts_dir: &Path,
    timeout_secs: u64,
    mut on_event: impl FnMut(&Value) -> Result<()>,
) -> Result<DriverOutcome> {
    let dir = browser_driver_dir();
    ensure!(
        dir.join("node_modules").join("puppeteer-core").is_dir(),
        "{}/node_modules/puppeteer-core is missing: run scripts/setup.sh (npm ci in tests/browser)",
        dir.display()
    );
    fs::create_dir_all(artifacts_dir)?;
    let args_path = artifacts_dir.join("driver-args.json");
    fs::write(&args_path, serde_json::to_vec_pretty(args)?)?;
    let stderr_path = artifacts_dir.join("driver-stderr.log");
    let stderr_file = File::create(&stderr_path)?;

    let mut child = Command::new("node")
        .arg(dir.join(script))
        .arg("--args-file")
        .arg(&args_path)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr_file)
        .spawn()
        .context("starting node (is Node.js installed? run scripts/setup.sh)")?;
    let stdout = child
        .stdout
        .take()
        .context("the driver's stdout is piped")?;
    let (tx, rx) = mpsc::channel::<String>();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    // The driver has its own overall timeout; this one only catches a driver that hangs anyway.
    let deadline = Instant::now() + Duration::from_secs(timeout_secs + 60);
    let mut events = Vec::new();
    let mut result = None;
    let mut failure = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            failure = Some(anyhow!(
                "the browser driver did not finish within {}s",
                timeout_secs + 60
            ));
            break;
        }
        match rx.recv_timeout(left.min(Duration::from_millis(500))) {
            Ok(line) => {
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    eprintln!("[driver stdout] {line}");
                    continue;
                };
                events.push(v.clone());
                if v.get("event").and_then(Value::as_str) == Some("result") {
                    result = Some(v);
                } else if let Err(e) = on_event(&v) {
                    failure = Some(e);
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = if failure.is_some() {
        // SIGTERM lets puppeteer close the browsers it started.
        terminate(&mut child, Duration::from_secs(15))
    } else {
        // stdout closed: the driver is exiting.
        let grace = Instant::now() + Duration::from_secs(30);
        loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() < grace => thread::sleep(Duration::from_millis(50)),
                _ => break terminate(&mut child, Duration::from_secs(10)),
            }
        }
    };
    let _ = reader.join();
    let outcome = DriverOutcome {
        result: result.unwrap_or_else(|| serde_json::json!({"event": "result", "ok": false, "error": "the driver printed no result"})),
        events,
        status,
        stderr_path,
    };
    if let Some(e) = failure {
        return Err(e.context(outcome.describe()));
    }
    Ok(outcome)
}
