//! The `vidid` process: finding (and first building) the binary ([`vidid_bin`]), free loopback
//! ports, and [`Server`] — `vidid serve` on a fresh (or given) data directory, ready once
//! `GET /readyz` answers 200, stopped on drop — with its HTTP API helpers and the `vidid`
//! sub-commands run against its data directory.

use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::{HttpResponse, http_request};
use crate::{tail, target_dir, workspace_root};

// -------------------------------------------------------------------------------------------------
// The binary

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
    pub(crate) env: Vec<(String, String)>,
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
pub(crate) fn terminate(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
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
