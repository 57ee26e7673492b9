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
//! Environment: `VIDID_BIN` (the binary, used as is; default `<target>/debug/vidid`, which the
//! harness brings up to date with `cargo build -p vidid` first unless `VIDID_E2E_NO_BUILD=1`),
//! `VIDID_SKIP_BROWSER=1` (skip the browser tests, loudly), `CARGO_TARGET_DIR`.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod journey;

// -------------------------------------------------------------------------------------------------
// Paths

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
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

/// The `vidid` binary: `VIDID_BIN` if set (used as is), else `<target>/debug/vidid`, which is
/// first brought up to date with `cargo build -p vidid` (once per process; cargo does nothing
/// when it is current) so that a test never runs a stale server. `VIDID_E2E_NO_BUILD=1` skips
/// that build.
pub fn vidid_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("VIDID_BIN").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        ensure!(p.is_file(), "VIDID_BIN={} is not a file", p.display());
        return Ok(p);
    }
    static BUILT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    if std::env::var("VIDID_E2E_NO_BUILD").is_ok_and(|v| v == "1") {
        // Trust the existing binary.
    } else if let Err(e) = BUILT.get_or_init(build_vidid) {
        bail!("{e}");
    }
    let p = target_dir().join("debug").join("vidid");
    ensure!(
        p.is_file(),
        "the vidid binary {} does not exist: build it first (`cargo build -p vidid`) or set VIDID_BIN",
        p.display()
    );
    Ok(p)
}

fn build_vidid() -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(&cargo)
        .args(["build", "-p", "vidid", "--bin", "vidid"])
        .current_dir(workspace_root())
        .env("CARGO_TARGET_DIR", target_dir())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {} build -p vidid: {e}", cargo.to_string_lossy()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`cargo build -p vidid` failed ({}):\n{}",
            out.status,
            tail(&String::from_utf8_lossy(&out.stderr), 60)
        ))
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

// -------------------------------------------------------------------------------------------------
// Ports

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_tcp_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> Result<u16> {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").context("binding udp 127.0.0.1:0")?;
    Ok(s.local_addr()?.port())
}

// -------------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client (loopback only; no TLS needed)

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("HTTP {} body is not JSON: {}", self.status, self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request over a fresh connection (`Connection: close`). `url` is `http://host:port/path`.
pub fn http_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<HttpResponse> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("only http:// URLs are supported: {url}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = authority
        .to_socket_addrs()
        .with_context(|| format!("resolving {authority}"))?
        .next()
        .ok_or_else(|| anyhow!("no address for {authority}"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .with_context(|| format!("connecting to {authority}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;

    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if body.is_some() || matches!(method, "POST" | "PUT" | "PATCH") {
        req.push_str(&format!(
            "Content-Length: {}\r\n",
            body.map_or(0, <[u8]>::len)
        ));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes())?;
    if let Some(b) = body {
        stream.write_all(b)?;
    }
    stream.flush()?;

    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .with_context(|| format!("reading the response to {method} {url}"))?;
    parse_http_response(&raw).with_context(|| format!("parsing the response to {method} {url}"))
}

fn parse_http_response(raw: &[u8]) -> Result<HttpResponse> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("no end of headers in {} bytes", raw.len()))?;
    let head = std::str::from_utf8(&raw[..end]).context("headers are not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
    });
    if chunked {
        body = decode_chunked(&body)?;
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn decode_chunked(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("truncated chunk header"))?;
        let size_text = std::str::from_utf8(&data[..line_end])?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        ensure!(data.len() >= size + 2, "truncated chunk");
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

// -------------------------------------------------------------------------------------------------
// The server

/// Extra settings for [`Server::start_with`].
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Extra arguments after `serve --data-dir DIR --listen ADDR`.
    pub args: Vec<String>,
    /// Extra environment variables (e.g. `VIDID__MEDIA__…`).
    pub env: Vec<(String, String)>,
    /// Where to copy the server log when the server is dropped.
    pub artifacts_dir: Option<PathBuf>,
    /// Use this data directory instead of a fresh one (a restart after a kill).
    pub data_dir: Option<PathBuf>,
    /// Listen on this port (e.g. one a node must announce before it starts); default a free one.
    pub port: Option<u16>,
}

/// A running `vidid serve`, killed on drop.
pub struct Server {
    child: Option<Child>,
    tmp: tempfile::TempDir,
    data_dir: PathBuf,
    log_path: PathBuf,
    port: u16,
    api_key: String,
    artifacts_dir: Option<PathBuf>,
    /// The extra environment the server was started with (also given to CLI runs).
    env: Vec<(String, String)>,
}

/// What `POST /api/v1/calls` answered.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CreatedCall {
    pub call_id: String,
    pub tokens: Tokens,
    pub links: Links,
    #[serde(default)]
    pub expires_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Tokens {
    pub customer: String,
    pub agent: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Links {
    pub customer: String,
    pub agent: String,
}

/// What `POST /api/v1/calls/{id}/end` answered.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct EndedCall {
    pub call_id: String,
    pub recording_id: Option<String>,
    pub duration_ms: Option<u64>,
}

impl Server {
    /// `vidid serve --data-dir <tmp>/data --listen 127.0.0.1:<free port>`, ready.
    pub fn start() -> Result<Server> {
        Self::start_with(ServerOptions::default())
    }

    pub fn start_with(opts: ServerOptions) -> Result<Server> {
        let bin = vidid_bin()?;
        let tmp = tempfile::Builder::new().prefix("vidid-e2e-").tempdir()?;
        let data_dir = opts
            .data_dir
            .clone()
            .unwrap_or_else(|| tmp.path().join("data"));
        fs::create_dir_all(&data_dir)?;
        let log_path = tmp.path().join("server.log");
        let port = match opts.port {
            Some(p) => p,
            None => free_tcp_port()?,
        };
        let log = File::create(&log_path)?;
        let mut cmd = Command::new(&bin);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(&opts.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        // Tests stop servers mid-call and expect the calls ended at once (not drained), unless
        // they ask for a drain grace themselves.
        cmd.env("VIDID__NODE__DRAIN_GRACE_SECS", "0");
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {} serve", bin.display()))?;
        let mut server = Server {
            child: Some(child),
            tmp,
            data_dir,
            log_path,
            port,
            api_key: String::new(),
            artifacts_dir: opts.artifacts_dir,
            env: opts.env.clone(),
        };
        server
            .wait_ready(Duration::from_secs(30))
            .map_err(|e| anyhow!("{e:#}\n--- server log ---\n{}", server.log()))?;
        let key_path = server.data_dir.join("secrets").join("api-key");
        let key = fs::read_to_string(&key_path)
            .with_context(|| format!("reading the API key from {}", key_path.display()))?;
        server.api_key = key.trim().to_string();
        ensure!(
            !server.api_key.is_empty(),
            "{} is empty",
            key_path.display()
        );
        Ok(server)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let url = format!("{}/readyz", self.base_url());
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("vidid serve exited before it was ready: {status}");
            }
            let last = match http_request("GET", &url, &[], None) {
                Ok(r) if r.status == 200 => return Ok(()),
                Ok(r) => format!("HTTP {}: {}", r.status, r.text()),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() > deadline {
                bail!("GET /readyz not 200 within {timeout:?}; last: {last}");
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id while it runs (e.g. to sample its CPU and memory use).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn temp_dir(&self) -> &Path {
        self.tmp.path()
    }

    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path)
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log_path.display()))
    }

    /// Sends SIGTERM (a drain) without waiting.
    pub fn sigterm(&self) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    }

    /// Waits up to `timeout` for the process to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Some(status);
            }
            thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// An API request with the bearer key; `path` starts with `/`.
    pub fn api(&self, method: &str, path: &str, body: Option<&Value>) -> Result<HttpResponse> {
        let auth = format!("Bearer {}", self.api_key);
        let body = body.map(serde_json::to_vec).transpose()?;
        let mut headers = vec![("Authorization", auth.as_str())];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        http_request(
            method,
            &format!("{}{path}", self.base_url()),
            &headers,
            body.as_deref(),
        )
    }

    /// `POST /api/v1/calls` → 201.
    pub fn create_call(&self) -> Result<CreatedCall> {
        let r = self.api("POST", "/api/v1/calls", Some(&serde_json::json!({})))?;
        ensure!(
            r.status == 201,
            "POST /api/v1/calls: HTTP {} {}",
            r.status,
            r.text()
        );
        serde_json::from_value(r.json()?).context("POST /api/v1/calls: unexpected body")
    }

    /// `GET /api/v1/calls/{id}` → 200, as JSON.
    pub fn get_call(&self, call_id: &str) -> Result<Value> {
        let r = self.api("GET", &format!("/api/v1/calls/{call_id}"), None)?;
        ensure!(
            r.status == 200,
            "GET /api/v1/calls/{call_id}: HTTP {} {}",
            r.status,
            r.text()
        );
        r.json()
    }

    /// `POST /api/v1/calls/{id}/end` → 200.
    pub fn end_call(&self, call_id: &str) -> Result<EndedCall> {
        let r = self.api("POST", &format!("/api/v1/calls/{call_id}/end"), None)?;
        ensure!(
            r.status == 200,
            "POST /api/v1/calls/{call_id}/end: HTTP {} {}",
            r.status,
            r.text()
        );
        serde_json::from_value(r.json()?).context("POST /api/v1/calls/{id}/end: unexpected body")
    }

    /// `vidid recording export <id> --wav OUT --data-dir DIR`.
    pub fn export_wav(&self, recording_id: &str, out: &Path) -> Result<()> {
        let bin = vidid_bin()?;
        let output = Command::new(&bin)
            .args(["recording", "export", recording_id, "--wav"])
            .arg(out)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {} recording export", bin.display()))?;
        ensure!(
            output.status.success(),
            "vidid recording export {recording_id} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        ensure!(
            out.is_file(),
            "vidid recording export succeeded but wrote no {}",
            out.display()
        );
        Ok(())
    }

    /// Kills the server with SIGKILL (no shutdown of any kind) and returns its exit status.
    pub fn kill9(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = child.kill();
        child.wait().ok()
    }

    /// Runs `vidid <args> --data-dir DIR` with the server's extra environment (e.g. its S3
    /// settings) and returns the output, whatever the exit status.
    pub fn vidid(&self, args: &[&str]) -> Result<std::process::Output> {
        let bin = vidid_bin()?;
        Command::new(&bin)
            .args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {} {}", bin.display(), args.join(" ")))
    }

    /// `GET /metrics` (Prometheus text).
    pub fn metrics(&self) -> Result<String> {
        let r = http_request("GET", &format!("{}/metrics", self.base_url()), &[], None)?;
        ensure!(r.status == 200, "GET /metrics: HTTP {}", r.status);
        Ok(r.text())
    }

    /// Stops the server (SIGTERM, then SIGKILL after 10 s) and returns its exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        terminate(&mut child, Duration::from_secs(10))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child, Duration::from_secs(5));
        }
        if let Some(dir) = &self.artifacts_dir {
            let _ = fs::create_dir_all(dir);
            let _ = fs::copy(&self.log_path, dir.join("server.log"));
        }
        if thread::panicking() {
            eprintln!(
                "===== vidid server log ({}) =====\n{}\n===== end of server log =====",
                self.log_path.display(),
                tail(&self.log(), 200)
            );
        }
    }
}

/// SIGTERM, wait up to `grace`, then SIGKILL.
fn terminate(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    child.wait().ok()
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

// -------------------------------------------------------------------------------------------------
// Tones and their analysis

/// Writes a mono 48 kHz 16-bit sine WAV.
pub fn write_tone_wav(path: &Path, freq_hz: f64, seconds: f64, amplitude: f64) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)
        .with_context(|| format!("creating {}", path.display()))?;
    let n = (seconds * 48_000.0) as usize;
    for i in 0..n {
        let t = i as f64 / 48_000.0;
        let v = amplitude * (2.0 * std::f64::consts::PI * freq_hz * t).sin();
        w.write_sample((v * f64::from(i16::MAX)).round() as i16)?;
    }
    w.finalize()?;
    Ok(())
}

/// Length of one analysis window.
pub const WINDOW_MS: u64 = 100;

/// The measurements of one 100 ms window of one channel. Amplitudes are relative to full scale.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Window {
    pub rms: f64,
    /// Estimated amplitude of the 440 Hz component.
    pub a440: f64,
    /// Estimated amplitude of the 1000 Hz component.
    pub a1000: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct WavAnalysis {
    pub sample_rate: u32,
    pub channels: u16,
    pub duration_ms: u64,
    /// `windows[channel][i]`
    pub windows: Vec<Vec<Window>>,
}

/// Per channel, per 100 ms window: RMS and the 440 Hz and 1000 Hz amplitudes (Goertzel).
pub fn analyze_wav(path: &Path) -> Result<WavAnalysis> {
    let mut r =
        hound::WavReader::open(path).with_context(|| format!("opening {}", path.display()))?;
    let spec = r.spec();
    let channels = usize::from(spec.channels);
    ensure!(channels > 0, "WAV without channels");
    let scale = match spec.sample_format {
        hound::SampleFormat::Int => 1.0 / f64::from(1u32 << (spec.bits_per_sample - 1)),
        hound::SampleFormat::Float => 1.0,
    };
    let samples: Vec<f64> = match spec.sample_format {
        hound::SampleFormat::Int => r
            .samples::<i32>()
            .map(|s| s.map(|v| f64::from(v) * scale))
            .collect::<Result<_, _>>()?,
        hound::SampleFormat::Float => r
            .samples::<f32>()
            .map(|s| s.map(f64::from))
            .collect::<Result<_, _>>()?,
    };
    let frames = samples.len() / channels;
    let rate = f64::from(spec.sample_rate);
    let win = (spec.sample_rate as usize * WINDOW_MS as usize) / 1000;
    ensure!(win > 0, "sample rate {} too low", spec.sample_rate);
    let mut windows = vec![Vec::with_capacity(frames / win); channels];
    let mut buf = vec![0.0f64; win];
    for (ch, out) in windows.iter_mut().enumerate() {
        for start in (0..frames.saturating_sub(win - 1)).step_by(win) {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = samples[(start + i) * channels + ch];
            }
            let rms = (buf.iter().map(|x| x * x).sum::<f64>() / win as f64).sqrt();
            out.push(Window {
                rms,
                a440: goertzel_amplitude(&buf, 440.0, rate),
                a1000: goertzel_amplitude(&buf, 1000.0, rate),
            });
        }
    }
    Ok(WavAnalysis {
        sample_rate: spec.sample_rate,
        channels: spec.channels,
        duration_ms: frames as u64 * 1000 / u64::from(spec.sample_rate),
        windows,
    })
}

/// The amplitude of the `freq` component of `x` (a full-scale sine of that frequency gives ~1).
pub fn goertzel_amplitude(x: &[f64], freq: f64, rate: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / rate;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s0 = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0);
    2.0 * power.sqrt() / x.len() as f64
}

/// Which tone a window is said to carry.
pub const TONE_MIN_AMPLITUDE: f64 = 0.01; // -40 dBFS
/// How much stronger (amplitude ratio) the dominant tone must be: 10 dB.
pub const TONE_DOMINANCE_RATIO: f64 = 3.162;

/// How one channel matches an expected tone.
#[derive(Debug, Clone, Serialize)]
pub struct ToneReport {
    pub channel: usize,
    pub expected_hz: u32,
    pub other_hz: u32,
    /// Windows counted (the denominator): the call duration in windows.
    pub windows: usize,
    /// Windows actually present in the WAV.
    pub windows_in_wav: usize,
    pub expected_dominant: usize,
    pub other_dominant: usize,
    /// Windows with RMS above -40 dBFS.
    pub loud: usize,
    pub expected_fraction: f64,
    pub other_fraction: f64,
    pub loud_fraction: f64,
    pub mean_rms: f64,
}

impl WavAnalysis {
    /// How often `expected_hz` (440 or 1000) dominates `channel` over `over_ms` (the call
    /// duration; windows missing from the WAV count as not dominated), or over the whole WAV.
    pub fn tone_report(
        &self,
        channel: usize,
        expected_hz: u32,
        over_ms: Option<u64>,
    ) -> Result<ToneReport> {
        let ws = self.windows.get(channel).ok_or_else(|| {
            anyhow!(
                "the WAV has {} channel(s), no channel {channel}",
                self.channels
            )
        })?;
        let other_hz = match expected_hz {
            440 => 1000,
            1000 => 440,
            _ => bail!("only 440 and 1000 Hz are analysed"),
        };
        let pick = |w: &Window, hz: u32| if hz == 440 { w.a440 } else { w.a1000 };
        let dominates = |w: &Window, a: u32, b: u32| {
            pick(w, a) >= TONE_MIN_AMPLITUDE && pick(w, a) >= TONE_DOMINANCE_RATIO * pick(w, b)
        };
        let windows = over_ms
            .map_or(ws.len(), |ms| (ms / WINDOW_MS) as usize)
            .max(1);
        let counted = &ws[..ws.len().min(windows)];
        let expected_dominant = counted
            .iter()
            .filter(|w| dominates(w, expected_hz, other_hz))
            .count();
        let other_dominant = counted
            .iter()
            .filter(|w| dominates(w, other_hz, expected_hz))
            .count();
        let loud = counted
            .iter()
            .filter(|w| w.rms >= TONE_MIN_AMPLITUDE)
            .count();
        let mean_rms = if counted.is_empty() {
            0.0
        } else {
            counted.iter().map(|w| w.rms).sum::<f64>() / counted.len() as f64
        };
        Ok(ToneReport {
            channel,
            expected_hz,
            other_hz,
            windows,
            windows_in_wav: ws.len(),
            expected_dominant,
            other_dominant,
            loud,
            expected_fraction: expected_dominant as f64 / windows as f64,
            other_fraction: other_dominant as f64 / windows as f64,
            loud_fraction: loud as f64 / windows as f64,
            mean_rms,
        })
    }

    /// One line per second and channel: which tone dominates (`L`ow 440, `H`igh 1000, `.` quiet,
    /// `?` mixed), for failure messages.
    pub fn timeline(&self) -> String {
        let mut out = String::new();
        for (ch, ws) in self.windows.iter().enumerate() {
            out.push_str(&format!("ch{ch}: "));
            for (i, w) in ws.iter().enumerate() {
                if i > 0 && i % 10 == 0 {
                    out.push(' ');
                }
                let c = if w.a440 >= TONE_MIN_AMPLITUDE && w.a440 >= TONE_DOMINANCE_RATIO * w.a1000
                {
                    'L'
                } else if w.a1000 >= TONE_MIN_AMPLITUDE && w.a1000 >= TONE_DOMINANCE_RATIO * w.a440
                {
                    'H'
                } else if w.rms < TONE_MIN_AMPLITUDE {
                    '.'
                } else {
                    '?'
                };
                out.push(c);
            }
            out.push('\n');
        }
        out
    }
}

// -------------------------------------------------------------------------------------------------
// The browser driver

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
    let stdout = child.stdout.take().expect("piped stdout");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goertzel_finds_the_tone() {
        let rate = 48_000.0;
        let x: Vec<f64> = (0..4800)
            .map(|i| 0.3 * (2.0 * std::f64::consts::PI * 440.0 * f64::from(i) / rate).sin())
            .collect();
        let a440 = goertzel_amplitude(&x, 440.0, rate);
        let a1000 = goertzel_amplitude(&x, 1000.0, rate);
        assert!((a440 - 0.3).abs() < 0.01, "a440 = {a440}");
        assert!(a1000 < 0.003, "a1000 = {a1000}");
    }

    #[test]
    fn tone_wav_round_trip() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("t.wav");
        write_tone_wav(&p, 1000.0, 1.0, 0.3)?;
        let a = analyze_wav(&p)?;
        assert_eq!(
            (a.channels, a.sample_rate, a.duration_ms),
            (1, 48_000, 1000)
        );
        let r = a.tone_report(0, 1000, None)?;
        assert_eq!(
            (r.windows, r.expected_dominant, r.other_dominant),
            (10, 10, 0)
        );
        let r = a.tone_report(0, 440, Some(2000))?;
        assert_eq!(
            (r.windows, r.expected_dominant, r.other_dominant),
            (20, 0, 10)
        );
        Ok(())
    }

    #[test]
    fn http_parsing_handles_chunked_bodies() -> Result<()> {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
        let r = parse_http_response(raw)?;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.json()?, serde_json::json!({"a": 1}));
        Ok(())
    }
}
