//! # vidid-e2e: the harness for end-to-end tests
//!
//! The tests in `tests/tests/` run the real `vidid` binary and real browsers against it:
//!
//! - [`Server`] starts `vidid serve` on a free port with a fresh data directory, waits for
//!   `GET /readyz`, and kills it on drop (its log is printed when a test fails and copied to the
//!   artifacts directory).
//! - [`Server::create_call`], [`Server::end_call`], [`Server::get_call`] use the HTTP API with
//!   the API key the server wrote to `<data-dir>/secrets/api-key`; [`Server::export_wav`] runs
//!   `vidid recording export`.
//! - [`Server::kill9`], [`Server::pid`], [`ServerOptions::data_dir`] (restart on the same data
//!   directory), [`Server::vidid`] (any CLI command with the server's data directory and
//!   environment) and [`Server::metrics`] serve the recording vault's tests (`tests/vault.rs`).
//! - [`drive_call`] runs `tests/browser/call.mjs` (puppeteer-core: system Chromium over CDP,
//!   Firefox ESR over WebDriver BiDi) and returns its JSON result.
//! - [`write_tone_wav`] writes the fake-microphone tones; [`analyze_wav`] measures, per 100 ms
//!   window and channel, which of two tones dominates (Goertzel).
//!
//! ## Layout
//!
//! - [`server`]: the `vidid` process — finding and building the binary, free ports, [`Server`]
//!   and [`ServerOptions`], start, stop and kill, data directories, the `vidid` sub-commands.
//! - [`http`]: [`http_request`] and [`HttpResponse`], over `ureq` (loopback `http://` only).
//! - [`audio`]: tone WAVs, WAV analysis, Goertzel, [`ToneReport`].
//! - [`browser`]: the browser lock and skip switch, [`Side`], [`CallArgs`], [`drive_call`],
//!   [`run_driver`], [`DriverOutcome`].
//! - [`journey`]: cases, staff, queued customers and TANs for the journey and cluster tests.
//! - here: the paths every module shares ([`workspace_root`], [`target_dir`],
//!   [`artifacts_dir`]) and [`tail`]. Everything the tests use is re-exported at the root.
//!
//! Environment: `VIDID_BIN` (the binary, used as is; default `<target>/debug/vidid`, which the
//! harness brings up to date with `cargo build -p vidid` first unless `VIDID_E2E_NO_BUILD=1`),
//! `VIDID_SKIP_BROWSER=1` (skip the browser tests, loudly), `CARGO_TARGET_DIR`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub mod audio;
pub mod browser;
pub mod http;
pub mod journey;
pub mod server;

pub use audio::{
    TONE_DOMINANCE_RATIO, TONE_MIN_AMPLITUDE, ToneReport, WINDOW_MS, WavAnalysis, Window,
    analyze_wav, goertzel_amplitude, write_tone_wav,
};
pub use browser::{
    Browser, CallArgs, DriverOutcome, Side, browser_driver_dir, browser_lock, drive_call,
    run_driver, skip_browser_tests,
};
pub use http::{HttpResponse, http_request};
pub use server::{
    CreatedCall, EndedCall, Links, Server, ServerOptions, Tokens, free_tcp_port, free_udp_port,
    vidid_bin,
};

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` or `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                workspace_root().join(d)
            }
        }
        _ => workspace_root().join("target"),
    }
}

/// A fresh, empty `target/e2e-artifacts/<test>/` for screenshots, logs and recordings.
pub fn artifacts_dir(test: &str) -> Result<PathBuf> {
    let dir = target_dir().join("e2e-artifacts").join(test);
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
