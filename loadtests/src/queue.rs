//! `vidid-load queue`: the customer queue with N customers waiting on `/ws/queue`
//! (docs/signaling.md §5), measured from outside over HTTP and WebSockets on 127.0.0.1.
//!
//! 1. Starts `vidid serve` (fresh data directory, cases clock at a Tuesday 11:00 so the queue
//!    is open, queue limits raised), SQLite or a throwaway PostgreSQL cluster.
//! 2. Prepares N customers (plus one spare per join sample) through the API, 64 at a time:
//!    create the case, upload a photo, confirm the data; the N join the queue.
//! 3. Opens N queue sockets and keeps them receiving; every socket's first `queue` message
//!    must be its place (the positions a permutation of 1..N).
//! 4. Samples, each once the server is idle again (its CPU time stops growing):
//!    - **leave**: a random waiting customer `DELETE /api/v1/customer/queue`; then the fan-out:
//!      until every customer behind it has seen its new position;
//!    - **join**: a spare customer `POST /api/v1/customer/queue` (the queue back at N), then
//!      opens its socket: until its first `queue` position;
//!    - **take**: an available agent `POST /api/v1/agent/take`; the first customer must be the
//!      one taken (and never twice); the fan-out: until all others have seen position − 1; the
//!      taken customer's `call_ready`; then the agent aborts the case and is available again.
//!
//! No agent is on duty during leave and join (so the wait estimate never refuses a join);
//! the takes come last.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore};
use tokio_tungstenite::tungstenite::Message;
use vidid_e2e::{Server, ServerOptions};

use crate::queue_http::Http;

/// Reported, not asserted: queue operations p99 at N waiting (issue 6).
pub const TARGET_P99_MS: f64 = 5.0;
const PREP_CONCURRENCY: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

pub struct Opts {
    pub customers: usize,
    pub samples: usize,
    pub store: StoreKind,
    /// Wall-clock budget of the leave/join phase and of the take phase, each.
    pub phase_budget: Duration,
    /// Longest wait for a fan-out or for the server to become idle.
    pub settle_timeout: Duration,
    pub json: PathBuf,
    pub markdown: PathBuf,
}

/// p50/p99/max of one measurement, milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Dist {
    pub n: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Dist {
    fn of(mut v: Vec<f64>) -> Dist {
        if v.is_empty() {
            return Dist::default();
        }
        v.sort_by(f64::total_cmp);
        let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Dist {
            n: v.len(),
            p50_ms: rank(0.50),
            p99_ms: rank(0.99),
            max_ms: v.last().copied().unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerUse {
    /// CPU seconds (user + system) spent in each phase.
    pub cpu_secs_prepare: f64,
    pub cpu_secs_attach: f64,
    /// Over 5 s with N waiting and nothing happening.
    pub cpu_secs_idle_5s: f64,
    pub cpu_secs_leave_join: f64,
    pub cpu_secs_take: f64,
    /// CPU seconds per sample (leave + join, and take + abort), fan-outs included.
    pub cpu_secs_per_leave_join: f64,
    pub cpu_secs_per_take: f64,
    pub rss_mb_start: f64,
    pub rss_mb_waiting: f64,
    pub rss_mb_end: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Checks {
    /// Every socket received a `queue` position.
    pub all_positioned: bool,
    /// The first positions were exactly 1..N.
    pub positions_permutation: bool,
    /// Join answers whose position differed from the socket's first one.
    pub position_mismatches: u64,
    /// A take returned a case taken before.
    pub taken_twice: u64,
    /// A take returned someone other than the first waiting customer.
    pub taken_out_of_order: u64,
    /// Fan-outs or idle waits that did not complete within the settle timeout.
    pub timeouts: u64,
    /// Fan-outs after which the server went idle with sockets still lacking their new
    /// position, and how many positions were never delivered in all.
    pub incomplete_fanouts: u64,
    pub lost_position_updates: u64,
    /// Unexpected HTTP statuses, socket errors and `error` messages.
    pub errors: u64,
    pub first_errors: Vec<String>,
}

impl Checks {
    pub fn ok(&self) -> bool {
        self.all_positioned
            && self.positions_permutation
            && self.position_mismatches == 0
            && self.taken_twice == 0
            && self.taken_out_of_order == 0
            && self.timeouts == 0
            && self.incomplete_fanouts == 0
            && self.errors == 0
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct QueueReport {
    pub store: String,
    pub customers: usize,
    pub samples_requested: usize,
    pub measured_at: String,
    pub commit: String,
    pub prepare_secs: f64,
    pub attach_secs: f64,
    /// `POST /api/v1/customer/queue` with N − 1 waiting.
    pub join: Dist,
    /// From the join request until the new customer's socket has its first position.
    pub join_first_position: Dist,
    /// `DELETE /api/v1/customer/queue` with N waiting.
    pub leave: Dist,
    /// From the leave request until every customer behind has seen its new position.
    pub leave_fanout: Dist,
    /// `POST /api/v1/agent/take` with N waiting.
    pub take: Dist,
    /// From the take request until all N − 1 others have seen their new position.
    pub take_fanout: Dist,
    /// From the take request until the taken customer's `call_ready`.
    pub take_call_ready: Dist,
    /// Queue messages the sockets received in all.
    pub queue_messages: u64,
    pub server: ServerUse,
    pub generator_cpu_secs: f64,
    pub checks: Checks,
    pub p99_target_ms: f64,
    /// join, leave and take p99 all within the target.
    pub meets_target: bool,
    /// A phase stopped before its samples because its time budget ran out.
    pub budget_exhausted: bool,
}

// ─── the server's CPU ────────────────────────────────────────────────────────────────────────

fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let rest = &stat[stat.rfind(')').context("malformed stat")? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11).context("no utime")?.parse()?;
    let stime: u64 = f.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

fn cpu_secs(pid: u32) -> anyhow::Result<f64> {
    Ok(cpu_ticks(pid)? as f64 / 100.0)
}

/// Waits until the server's CPU time stops growing (≤ 10 ms in 150 ms): the previous
/// operation's fan-out is over. False on timeout.
async fn settle(pid: u32, timeout: Duration) -> anyhow::Result<bool> {
    let deadline = Instant::now() + timeout;
    let mut last = cpu_ticks(pid)?;
    loop {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let now = cpu_ticks(pid)?;
        if now - last <= 1 {
            return Ok(true);
        }
        if Instant::now() > deadline {
            return Ok(false);
        }
        last = now;
    }
}

// ─── the customers' sockets ──────────────────────────────────────────────────────────────────

/// What one customer's socket has seen (written by its task, read by the driver).
#[derive(Default)]
struct Slot {
    /// The last position received (0: none yet).
    pos: AtomicU32,
    /// When the position last changed, ns since the epoch.
    pos_at: AtomicU64,
    /// The first position received.
    first_pos: AtomicU32,
    first_at: AtomicU64,
    call_ready_at: AtomicU64,
    results: AtomicU32,
    closed: AtomicBool,
    close: Notify,
}

struct Shared {
    epoch: Instant,
    slots: Vec<Slot>,
    errors: AtomicU64,
    first_errors: Mutex<Vec<String>>,
    queue_messages: AtomicU64,
    /// When any socket last received a message, ns since the epoch.
    last_message_at: AtomicU64,
    /// Errors after this is set (the end: the server is stopped) are not counted.
    ending: AtomicBool,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn error(&self, e: String) {
        if self.ending.load(Relaxed) {
            return;
        }
        self.errors.fetch_add(1, Relaxed);
        let mut f = self.first_errors.lock().unwrap_or_else(|e| e.into_inner());
        if f.len() < 10 {
            eprintln!("queue bench error: {e}");
            f.push(e);
        }
    }

    fn on_text(&self, i: usize, text: &str) {
        let slot = &self.slots[i];
        let now = self.now_ns();
        self.last_message_at.store(now, Relaxed);
        let v: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(_) => return self.error(format!("customer {i}: not JSON: {text}")),
        };
        match v["type"].as_str() {
            Some("queue") => {
                self.queue_messages.fetch_add(1, Relaxed);
                let p = v["position"].as_u64().unwrap_or(0) as u32;
                if slot.pos.load(Relaxed) != p {
                    slot.pos_at.store(now, Relaxed);
                }
                slot.pos.store(p, Relaxed);
                if slot.first_pos.load(Relaxed) == 0 {
                    slot.first_at.store(now, Relaxed);
                    slot.first_pos.store(p, Relaxed);
                }
            }
            Some("call_ready") => slot.call_ready_at.store(now, Relaxed),
            Some("result") => {
                slot.results.fetch_add(1, Relaxed);
            }
            Some("pong") | Some("instruction") => {}
            _ => self.error(format!("customer {i}: {text}")),
        }
    }
}

async fn socket(shared: Arc<Shared>, i: usize, url: String, token: String) {
    let r: anyhow::Result<()> = async {
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
        ws.send(Message::Text(
            json!({"type": "queue", "token": token}).to_string().into(),
        ))
        .await?;
        let slot = &shared.slots[i];
        loop {
            tokio::select! {
                m = ws.next() => match m {
                    Some(Ok(Message::Text(t))) => shared.on_text(i, t.as_str()),
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => bail!("customer {i}: socket: {e}"),
                },
                _ = slot.close.notified() => {
                    let _ = ws.close(None).await;
                    break;
                }
            }
        }
        Ok(())
    }
    .await;
    shared.slots[i].closed.store(true, Relaxed);
    if let Err(e) = r {
        shared.error(format!("{e:#}"));
    }
}

/// How a fan-out ended.
enum Fanout {
    /// Every socket has its new position: the time from `t0` until the last one changed, ms.
    Complete(f64),
    /// The server went idle while this many sockets still lacked their new position: those
    /// updates were lost.
    Lost(usize),
    TimedOut,
}

/// Until every `(slot, position)` holds, or the server is idle with some still missing.
async fn fanout(
    shared: &Shared,
    expect: &[(usize, u32)],
    t0_ns: u64,
    pid: u32,
    timeout: Duration,
) -> anyhow::Result<Fanout> {
    let started = Instant::now();
    let missing = || {
        expect
            .iter()
            .filter(|&&(i, p)| shared.slots[i].pos.load(Relaxed) != p)
            .count()
    };
    let mut ticks = cpu_ticks(pid)?;
    let mut checked = Instant::now();
    let mut idle_windows = 0;
    loop {
        if missing() == 0 {
            let last = expect
                .iter()
                .map(|&(i, _)| shared.slots[i].pos_at.load(Relaxed))
                .max()
                .unwrap_or(t0_ns);
            return Ok(Fanout::Complete(last.saturating_sub(t0_ns) as f64 / 1e6));
        }
        if started.elapsed() > timeout {
            return Ok(Fanout::TimedOut);
        }
        if checked.elapsed() >= Duration::from_millis(250) {
            let now = cpu_ticks(pid)?;
            idle_windows = if now - ticks <= 1 {
                idle_windows + 1
            } else {
                0
            };
            ticks = now;
            checked = Instant::now();
            // The server idle for a second, and no socket has read anything for a second
            // either (the generator is not still working through a backlog).
            let quiet = shared
                .now_ns()
                .saturating_sub(shared.last_message_at.load(Relaxed))
                > 1_000_000_000;
            if idle_windows >= 4 && quiet && started.elapsed() > Duration::from_secs(2) {
                let m = missing();
                if m > 0 {
                    return Ok(Fanout::Lost(m));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

impl Checks {
    fn fanout(&mut self, f: Fanout, into: &mut Vec<f64>) {
        match f {
            Fanout::Complete(ms) => into.push(ms),
            Fanout::Lost(n) => {
                self.incomplete_fanouts += 1;
                self.lost_position_updates += n as u64;
            }
            Fanout::TimedOut => self.timeouts += 1,
        }
    }
}

// ─── the server ──────────────────────────────────────────────────────────────────────────────

/// A throwaway PostgreSQL cluster (Debian's binaries), stopped on drop.
struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl Postgres {
    fn start() -> anyhow::Result<Postgres> {
        let bin = match std::env::var_os("VIDID_PG_BIN") {
            Some(d) => PathBuf::from(d),
            None => {
                let mut v: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
                    .context("PostgreSQL binaries not found (/usr/lib/postgresql; VIDID_PG_BIN)")?
                    .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                    .filter(|p| p.join("initdb").is_file())
                    .collect();
                v.sort();
                v.pop()
                    .context("no initdb under /usr/lib/postgresql/*/bin")?
            }
        };
        let dir = tempfile::tempdir()?;
        let as_postgres = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        if as_postgres {
            let st = std::process::Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()?;
            ensure!(st.success(), "chown to postgres failed");
        }
        let port = vidid_e2e::free_tcp_port()?;
        let pg = Postgres {
            dir,
            bin,
            port,
            as_postgres,
        };
        let data = pg.dir.path().join("db");
        pg.run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        )?;
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            pg.dir.path().display()
        );
        let log = pg.dir.path().join("log");
        pg.run(
            "pg_ctl",
            &[
                "-D",
                &data.display().to_string(),
                "-o",
                &opts,
                "-l",
                &log.display().to_string(),
                "-w",
                "start",
            ],
        )?;
        Ok(pg)
    }

    fn run(&self, tool: &str, args: &[&str]) -> anyhow::Result<()> {
        let exe = self.bin.join(tool);
        let out = if self.as_postgres {
            std::process::Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .output()
        } else {
            std::process::Command::new(&exe).args(args).output()
        }
        .with_context(|| format!("running {}", exe.display()))?;
        ensure!(
            out.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("db").display().to_string();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}

/// Raises the soft open-files limit to the hard one (the server child inherits it).
#[allow(
    unsafe_code,
    reason = "std has no setrlimit; the call is sound as the SAFETY note says"
)]
fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) != 0 {
            return 0;
        }
        l.rlim_cur = l.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        l.rlim_cur
    }
}

/// A small JPEG (the server checks the magic bytes and a minimum size).
fn photo() -> Vec<u8> {
    let mut b = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00,
    ];
    b.resize(200, 0x11);
    b.extend_from_slice(&[0xFF, 0xD9]);
    b
}

struct Customer {
    case_id: String,
    token: String,
}

fn check_status(r: &crate::queue_http::Resp, want: u16, what: &str) -> anyhow::Result<()> {
    ensure!(
        r.status == want,
        "{what}: HTTP {} (expected {want}): {}",
        r.status,
        r.text()
    );
    Ok(())
}

/// Creates, uploads and confirms customer `i`; joins the queue when `join`. Returns the
/// customer and the position the join answered.
async fn prepare(
    http: &mut Http,
    auth: &str,
    i: usize,
    join: bool,
) -> anyhow::Result<(Customer, Option<u32>)> {
    let name = format!("Queue Customer {i}");
    let mut data = vidid_e2e::journey::customer_data(&name);
    data["contract_ref"] = json!(format!("Q-{i}"));
    let body = serde_json::to_vec(&data)?;
    let r = http
        .request(
            "POST",
            "/api/v1/cases",
            &[
                ("Authorization", auth),
                ("Content-Type", "application/json"),
            ],
            &body,
        )
        .await?;
    check_status(&r, 201, "create case")?;
    let v = r.json()?;
    let c = Customer {
        case_id: v["case"]["id"].as_str().context("case.id")?.to_string(),
        token: v["customer_token"]
            .as_str()
            .context("customer_token")?
            .to_string(),
    };
    let tok = c.token.as_str();
    let r = http
        .request(
            "POST",
            "/api/v1/customer/photo",
            &[("X-Case-Token", tok), ("Content-Type", "image/jpeg")],
            &photo(),
        )
        .await?;
    check_status(&r, 200, "photo")?;
    let confirm = json!({
        "name": data["name"],
        "date_of_birth": data["date_of_birth"],
        "document": data["document"],
    });
    let r = http
        .request(
            "POST",
            "/api/v1/customer/confirm",
            &[("X-Case-Token", tok), ("Content-Type", "application/json")],
            &serde_json::to_vec(&confirm)?,
        )
        .await?;
    check_status(&r, 200, "confirm")?;
    ensure!(
        r.json()?["matches"] == json!(true),
        "confirm did not match: {}",
        r.text()
    );
    if !join {
        return Ok((c, None));
    }
    let r = http
        .request(
            "POST",
            "/api/v1/customer/queue",
            &[("X-Case-Token", tok)],
            b"",
        )
        .await?;
    check_status(&r, 200, "join")?;
    let pos = r.json()?["position"].as_u64().context("position")? as u32;
    Ok((c, Some(pos)))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn shell(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

pub fn run(o: &Opts) -> anyhow::Result<QueueReport> {
    ensure!(
        (1..=10_000).contains(&o.customers),
        "--customers must be 1..=10000 (the server's queue.max_length limit)"
    );
    let nofile = raise_fd_limit();
    ensure!(
        nofile == 0 || nofile as usize > o.customers + 200,
        "open-files limit {nofile} is too low for {} sockets",
        o.customers
    );
    let pg = match o.store {
        StoreKind::Postgres => Some(Postgres::start()?),
        StoreKind::Sqlite => None,
    };
    let mut env: Vec<(String, String)> = vec![
        ("RUST_LOG".into(), "warn".into()),
        ("VIDID__CASES__QUEUE__MAX_LENGTH".into(), "10000".into()),
        ("VIDID__CASES__QUEUE__MAX_WAIT_SECS".into(), "86400".into()),
        (
            "VIDID__CASES__QUEUE__REJOIN_GRACE_SECS".into(),
            "3600".into(),
        ),
    ];
    if let Some(pg) = &pg {
        env.push(("VIDID__CASES__STORE__URL".into(), pg.url()));
    }
    let server = vidid_e2e::journey::start_server_at(
        vidid_e2e::journey::OPEN_HOURS,
        ServerOptions {
            env,
            ..Default::default()
        },
    )?;
    let r = measure(o, &server);
    if r.is_err() {
        eprintln!(
            "--- server log (tail) ---\n{}",
            vidid_e2e::tail(&server.log(), 30)
        );
    }
    r
}

fn measure(o: &Opts, server: &Server) -> anyhow::Result<QueueReport> {
    let pid = server.pid().context("the server is not running")?;
    let port = server.port();
    let auth = format!("Bearer {}", server.api_key());
    let password = server.add_user("agent1", "agent")?;
    let n = o.customers;
    let spares = o.samples;
    let mut rep = QueueReport {
        store: format!("{:?}", o.store).to_lowercase(),
        customers: n,
        samples_requested: o.samples,
        measured_at: shell("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
        commit: shell("git", &["rev-parse", "--short", "HEAD"]),
        p99_target_ms: TARGET_P99_MS,
        ..Default::default()
    };
    rep.server.rss_mb_start = crate::proc_sample::rss_mb(pid)?;
    let generator_cpu0 = cpu_secs(std::process::id())?;

    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        slots: (0..n + spares).map(|_| Slot::default()).collect(),
        errors: AtomicU64::new(0),
        first_errors: Mutex::new(Vec::new()),
        queue_messages: AtomicU64::new(0),
        last_message_at: AtomicU64::new(0),
        ending: AtomicBool::new(false),
    });
    // The sockets live on their own thread, so that reading a burst of pushes does not delay
    // the driver's HTTP answers (and the other way round).
    let sockets_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("queue-sockets")
        .enable_all()
        .build()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let ws_url = format!("ws://127.0.0.1:{port}/ws/queue");

    let result = rt.block_on(async {
        // ── prepare ──
        let t = Instant::now();
        let c0 = cpu_secs(pid)?;
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut workers = Vec::new();
        for _ in 0..PREP_CONCURRENCY.min(n + spares) {
            let (next, auth) = (next.clone(), auth.clone());
            workers.push(tokio::spawn(async move {
                let mut http = Http::new(port);
                let mut out = Vec::new();
                loop {
                    let i = next.fetch_add(1, Relaxed);
                    if i >= n + spares {
                        break;
                    }
                    let (c, pos) = prepare(&mut http, &auth, i, i < n)
                        .await
                        .with_context(|| format!("preparing customer {i}"))?;
                    out.push((i, c, pos));
                    if i > 0 && i % 1000 == 0 {
                        eprintln!("prepared {i} customers …");
                    }
                }
                anyhow::Ok(out)
            }));
        }
        let mut customers: Vec<Option<Customer>> = (0..n + spares).map(|_| None).collect();
        let mut join_pos = vec![0u32; n];
        for w in workers {
            for (i, c, pos) in w.await?? {
                if let Some(p) = pos {
                    join_pos[i] = p;
                }
                customers[i] = Some(c);
            }
        }
        let customers: Vec<Customer> = customers
            .into_iter()
            .map(|c| c.context("a customer was not prepared"))
            .collect::<anyhow::Result<_>>()?;
        rep.prepare_secs = t.elapsed().as_secs_f64();
        rep.server.cpu_secs_prepare = cpu_secs(pid)? - c0;
        eprintln!("prepared {} customers in {:.1} s", n + spares, rep.prepare_secs);

        // ── attach N sockets ──
        let t = Instant::now();
        let c0 = cpu_secs(pid)?;
        let permits = Arc::new(Semaphore::new(PREP_CONCURRENCY));
        for (i, c) in customers.iter().enumerate().take(n) {
            let permit = permits.clone().acquire_owned().await?;
            sockets_rt.spawn(socket(
                shared.clone(),
                i,
                ws_url.clone(),
                c.token.clone(),
            ));
            // Release the permit once this socket has its first position (or is gone).
            let sh = shared.clone();
            tokio::spawn(async move {
                while sh.slots[i].first_pos.load(Relaxed) == 0 && !sh.slots[i].closed.load(Relaxed) {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                drop(permit);
            });
            if i > 0 && i % 1000 == 0 {
                eprintln!("attached {i} sockets …");
            }
        }
        let deadline = Instant::now() + o.settle_timeout;
        while (0..n).any(|i| {
            shared.slots[i].first_pos.load(Relaxed) == 0 && !shared.slots[i].closed.load(Relaxed)
        }) {
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        rep.attach_secs = t.elapsed().as_secs_f64();
        rep.server.cpu_secs_attach = cpu_secs(pid)? - c0;
        eprintln!("{n} sockets attached in {:.1} s", rep.attach_secs);
        let first: Vec<u32> = (0..n).map(|i| shared.slots[i].first_pos.load(Relaxed)).collect();
        rep.checks.all_positioned = first.iter().all(|&p| p > 0);
        let mut sorted = first.clone();
        sorted.sort_unstable();
        rep.checks.positions_permutation = sorted.iter().enumerate().all(|(k, &p)| p as usize == k + 1);
        rep.checks.position_mismatches =
            first.iter().zip(&join_pos).filter(|(a, b)| a != b).count() as u64;
        ensure!(
            rep.checks.all_positioned && rep.checks.positions_permutation,
            "the sockets' first positions are not 1..{n} ({} positioned)",
            first.iter().filter(|&&p| p > 0).count()
        );
        // The queue as the generator knows it: slot indices in order.
        let mut order: Vec<usize> = vec![0; n];
        for (i, &p) in first.iter().enumerate() {
            order[p as usize - 1] = i;
        }

        if !settle(pid, o.settle_timeout).await? {
            rep.checks.timeouts += 1;
        }
        rep.server.rss_mb_waiting = crate::proc_sample::rss_mb(pid)?;
        let c0 = cpu_secs(pid)?;
        tokio::time::sleep(Duration::from_secs(5)).await;
        rep.server.cpu_secs_idle_5s = cpu_secs(pid)? - c0;

        // ── leave and join, no agent on duty ──
        let mut http = Http::new(port);
        let (mut leave, mut leave_fan, mut join, mut join_first) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let c0 = cpu_secs(pid)?;
        let phase = Instant::now();
        for (s, spare) in (0..o.samples).zip(n..) {
            if s > 0 && phase.elapsed() > o.phase_budget {
                rep.budget_exhausted = true;
                break;
            }
            // Leave: a random waiting customer.
            let k = rand::random_range(0..order.len());
            let who = order.remove(k);
            let tok = customers[who].token.clone();
            let t0 = shared.now_ns();
            let started = Instant::now();
            let r = http
                .request("DELETE", "/api/v1/customer/queue", &[("X-Case-Token", &tok)], b"")
                .await?;
            leave.push(ms(started.elapsed()));
            if r.status != 200 {
                shared.error(format!("leave: HTTP {} {}", r.status, r.text()));
            }
            let expect: Vec<(usize, u32)> = order
                .iter()
                .enumerate()
                .skip(k)
                .map(|(p, &i)| (i, p as u32 + 1))
                .collect();
            let f = fanout(&shared, &expect, t0, pid, o.settle_timeout).await?;
            rep.checks.fanout(f, &mut leave_fan);
            shared.slots[who].close.notify_one();
            if !settle(pid, o.settle_timeout).await? {
                rep.checks.timeouts += 1;
            }

            // Join: a spare customer, then its socket.
            let who = spare;
            let tok = customers[who].token.clone();
            let t0 = shared.now_ns();
            let started = Instant::now();
            let r = http
                .request("POST", "/api/v1/customer/queue", &[("X-Case-Token", &tok)], b"")
                .await?;
            join.push(ms(started.elapsed()));
            if r.status != 200 {
                shared.error(format!("join: HTTP {} {}", r.status, r.text()));
            }
            order.push(who);
            let want = order.len() as u32;
            if r.json().ok().and_then(|v| v["position"].as_u64()) != Some(want as u64) {
                rep.checks.position_mismatches += 1;
            }
            sockets_rt.spawn(socket(
                shared.clone(),
                who,
                ws_url.clone(),
                tok,
            ));
            match fanout(&shared, &[(who, want)], t0, pid, o.settle_timeout).await? {
                Fanout::Complete(_) => join_first.push(
                    shared.slots[who].first_at.load(Relaxed).saturating_sub(t0) as f64 / 1e6,
                ),
                f => rep.checks.fanout(f, &mut Vec::new()),
            }
            if !settle(pid, o.settle_timeout).await? {
                rep.checks.timeouts += 1;
            }
            eprintln!(
                "leave/join sample {}: leave {:.2} ms (fan-out {:.0} ms), join {:.2} ms (first position {:.1} ms)",
                s + 1,
                leave.last().copied().unwrap_or(0.0),
                leave_fan.last().copied().unwrap_or(f64::NAN),
                join.last().copied().unwrap_or(0.0),
                join_first.last().copied().unwrap_or(f64::NAN),
            );
        }
        rep.server.cpu_secs_leave_join = cpu_secs(pid)? - c0;
        rep.server.cpu_secs_per_leave_join = rep.server.cpu_secs_leave_join / leave.len().max(1) as f64;
        rep.leave = Dist::of(leave);
        rep.leave_fanout = Dist::of(leave_fan);
        rep.join = Dist::of(join);
        rep.join_first_position = Dist::of(join_first);

        // ── take, one agent ──
        let r = http
            .request(
                "POST",
                "/api/v1/session",
                &[("Content-Type", "application/json")],
                &serde_json::to_vec(&json!({"username": "agent1", "password": password}))?,
            )
            .await?;
        check_status(&r, 200, "login")?;
        let cookie = r
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .find_map(|(_, v)| v.split(';').next().filter(|kv| kv.starts_with("vidid_session=")))
            .context("no vidid_session cookie")?
            .to_string();
        let staff = [("Cookie", cookie.as_str()), ("Content-Type", "application/json")];
        let r = http
            .request(
                "PUT",
                "/api/v1/agent/availability",
                &staff,
                br#"{"status":"available"}"#,
            )
            .await?;
        check_status(&r, 200, "availability")?;
        if !settle(pid, o.settle_timeout).await? {
            rep.checks.timeouts += 1;
        }
        let (mut take, mut take_fan, mut ready) = (Vec::new(), Vec::new(), Vec::new());
        let mut taken = HashSet::new();
        let c0 = cpu_secs(pid)?;
        let phase = Instant::now();
        for s in 0..o.samples.min(order.len()) {
            if s > 0 && phase.elapsed() > o.phase_budget {
                rep.budget_exhausted = true;
                break;
            }
            let t0 = shared.now_ns();
            let started = Instant::now();
            let r = http.request("POST", "/api/v1/agent/take", &staff, b"").await?;
            take.push(ms(started.elapsed()));
            check_status(&r, 200, "take")?;
            let id = r.json()?["case"]["id"]
                .as_str()
                .context("take: case.id")?
                .to_string();
            let first = order.remove(0);
            if id != customers[first].case_id {
                rep.checks.taken_out_of_order += 1;
            }
            if !taken.insert(id.clone()) {
                rep.checks.taken_twice += 1;
            }
            let expect: Vec<(usize, u32)> = order
                .iter()
                .enumerate()
                .map(|(p, &i)| (i, p as u32 + 1))
                .collect();
            let f = fanout(&shared, &expect, t0, pid, o.settle_timeout).await?;
            rep.checks.fanout(f, &mut take_fan);
            let deadline = Instant::now() + o.settle_timeout;
            while shared.slots[first].call_ready_at.load(Relaxed) == 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            match shared.slots[first].call_ready_at.load(Relaxed) {
                0 => rep.checks.timeouts += 1,
                at => ready.push(at.saturating_sub(t0) as f64 / 1e6),
            }
            let r = http
                .request(
                    "POST",
                    &format!("/api/v1/cases/{id}/abort"),
                    &staff,
                    br#"{"reason":"other_suspicion","note":"bench"}"#,
                )
                .await?;
            check_status(&r, 200, "abort")?;
            if !settle(pid, o.settle_timeout).await? {
                rep.checks.timeouts += 1;
            }
            // Aborting makes the agent available again; say so anyway (a no-op then).
            let r = http
                .request(
                    "PUT",
                    "/api/v1/agent/availability",
                    &staff,
                    br#"{"status":"available"}"#,
                )
                .await?;
            check_status(&r, 200, "availability")?;
            eprintln!(
                "take sample {}: take {:.2} ms (fan-out {:.0} ms, call_ready {:.1} ms)",
                s + 1,
                take.last().copied().unwrap_or(0.0),
                take_fan.last().copied().unwrap_or(f64::NAN),
                ready.last().copied().unwrap_or(f64::NAN),
            );
        }
        rep.server.cpu_secs_take = cpu_secs(pid)? - c0;
        rep.server.cpu_secs_per_take = rep.server.cpu_secs_take / take.len().max(1) as f64;
        rep.take = Dist::of(take);
        rep.take_fanout = Dist::of(take_fan);
        rep.take_call_ready = Dist::of(ready);
        rep.server.rss_mb_end = crate::proc_sample::rss_mb(pid)?;
        // Every taken customer got its result and the server closed the socket.
        for id in &taken {
            if let Some(i) = customers.iter().position(|c| &c.case_id == id)
                && shared.slots[i].results.load(Relaxed) != 1
            {
                shared.error(format!("customer {i} ({id}): no result after the abort"));
            }
        }
        anyhow::Ok(())
    });
    shared.ending.store(true, Relaxed);
    result?;
    sockets_rt.shutdown_background();
    rep.generator_cpu_secs = cpu_secs(std::process::id())? - generator_cpu0;
    rep.queue_messages = shared.queue_messages.load(Relaxed);
    rep.checks.errors = shared.errors.load(Relaxed);
    rep.checks.first_errors = shared
        .first_errors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    rep.meets_target = [&rep.join, &rep.leave, &rep.take]
        .iter()
        .all(|d| d.n > 0 && d.p99_ms <= TARGET_P99_MS);
    Ok(rep)
}

// ─── output ──────────────────────────────────────────────────────────────────────────────────

pub fn print_table(r: &QueueReport) {
    println!(
        "{:<22} {:>6} {:>10} {:>10} {:>10}",
        "operation", "n", "p50 ms", "p99 ms", "max ms"
    );
    for (name, d) in rows(r) {
        println!(
            "{name:<22} {:>6} {:>10.2} {:>10.2} {:>10.2}",
            d.n, d.p50_ms, d.p99_ms, d.max_ms
        );
    }
}

fn rows(r: &QueueReport) -> [(&'static str, &Dist); 7] {
    [
        ("join", &r.join),
        ("join → first position", &r.join_first_position),
        ("leave", &r.leave),
        ("leave fan-out", &r.leave_fanout),
        ("take", &r.take),
        ("take fan-out", &r.take_fanout),
        ("take → call_ready", &r.take_call_ready),
    ]
}

/// Adds or replaces the row of the same store and size in `path` (a JSON array).
pub fn save_json(path: &Path, r: &QueueReport) -> anyhow::Result<Vec<QueueReport>> {
    let mut all: Vec<QueueReport> = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    all.retain(|x| !(x.store == r.store && x.customers == r.customers));
    all.push(r.clone());
    all.sort_by(|a, b| (b.customers, &a.store).cmp(&(a.customers, &b.store)));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_string_pretty(&all)? + "\n")?;
    Ok(all)
}

const HEADING: &str = "## Signaling: queue at N waiting";

/// The BENCHMARKS.md section for the rows in `json` (the queue benchmark's results file);
/// `None` when there is no such file.
pub fn markdown_section(json: &Path) -> Option<String> {
    let rows: Vec<QueueReport> = serde_json::from_str(&std::fs::read_to_string(json).ok()?).ok()?;
    if rows.is_empty() {
        return None;
    }
    let mut md = format!(
        "{HEADING}\n\nProduced by `vidid-load queue` (see `loadtests/src/queue.rs`; results in `loadtests/queue-results.json`): \
         `vidid serve` on 127.0.0.1 with N customers waiting, each on its own `/ws/queue` socket, \
         every operation sampled once the server is idle again. Latencies are the HTTP request \
         as the client sees it (keep-alive connection); fan-out is from the request until the \
         last affected socket received its new `queue` position. Leave picks a random waiting \
         customer; join is a spare customer joining with N − 1 waiting; take is one agent \
         taking the first customer (then aborting the case). Target (issue 6, reported, not \
         asserted): join/leave/take p99 ≤ {TARGET_P99_MS} ms at 10 000 waiting.\n\n"
    );
    md.push_str("| store | waiting | samples (leave+join / take) | join p50 / p99 ms | leave p50 / p99 ms | take p50 / p99 ms | join → first position p50 / p99 ms | leave fan-out p50 / p99 ms | take fan-out p50 / p99 ms | server CPU s per leave+join / per take | RSS MB start → waiting → end | meets target |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    let pair = |d: &Dist| {
        if d.n == 0 {
            "–".to_string()
        } else {
            format!("{} / {}", fmt_ms(d.p50_ms), fmt_ms(d.p99_ms))
        }
    };
    for r in &rows {
        // No fan-out completed: the server went idle with positions undelivered.
        let fan = |d: &Dist| {
            if d.n == 0 && r.checks.incomplete_fanouts > 0 {
                "never complete (updates lost)".to_string()
            } else {
                pair(d)
            }
        };
        md.push_str(&format!(
            "| {} | {} | {} / {} | {} | {} | {} | {} | {} | {} | {:.2} / {:.2} | {:.0} → {:.0} → {:.0} | {} |\n",
            r.store,
            r.customers,
            r.leave.n,
            r.take.n,
            pair(&r.join),
            pair(&r.leave),
            pair(&r.take),
            pair(&r.join_first_position),
            fan(&r.leave_fanout),
            fan(&r.take_fanout),
            r.server.cpu_secs_per_leave_join,
            r.server.cpu_secs_per_take,
            r.server.rss_mb_start,
            r.server.rss_mb_waiting,
            r.server.rss_mb_end,
            if r.meets_target { "yes" } else { "**no**" },
        ));
    }
    md.push_str("\nMaxima, preparation and checks:\n\n");
    for r in &rows {
        md.push_str(&format!(
            "- {} at {}: max join {} ms, leave {} ms, take {} ms, take fan-out {} ms; prepared in {:.0} s ({:.0} server CPU s), sockets attached in {:.0} s ({:.0} CPU s); idle with N waiting {:.2} CPU s / 5 s; {} queue messages; checks {}{}; measured {} at {}.\n",
            r.store,
            r.customers,
            fmt_ms(r.join.max_ms),
            fmt_ms(r.leave.max_ms),
            fmt_ms(r.take.max_ms),
            fmt_ms(r.take_fanout.max_ms),
            r.prepare_secs,
            r.server.cpu_secs_prepare,
            r.attach_secs,
            r.server.cpu_secs_attach,
            r.server.cpu_secs_idle_5s,
            r.queue_messages,
            if r.checks.ok() {
                "passed".to_string()
            } else {
                format!(
                    "**failed** ({} fan-outs incomplete: {} position updates never delivered; {} timeouts; {} errors)",
                    r.checks.incomplete_fanouts,
                    r.checks.lost_position_updates,
                    r.checks.timeouts,
                    r.checks.errors
                )
            },
            if r.budget_exhausted {
                " (time budget ran out before all samples)"
            } else {
                ""
            },
            r.measured_at,
            r.commit,
        ));
    }
    Some(md)
}

fn fmt_ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Puts `section` into the Markdown file at `path`, replacing an earlier one.
pub fn merge_markdown(path: &Path, section: &str) -> anyhow::Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let new = replace_section(&old, section);
    std::fs::write(path, new)?;
    Ok(())
}

fn replace_section(old: &str, section: &str) -> String {
    let section = section.trim_end();
    match old.find(HEADING) {
        Some(start) => {
            let after = &old[start + HEADING.len()..];
            let end = after
                .find("\n## ")
                .map(|e| start + HEADING.len() + e + 1)
                .unwrap_or(old.len());
            let rest = &old[end..];
            if rest.is_empty() {
                format!("{}{section}\n", &old[..start])
            } else {
                format!("{}{section}\n\n{rest}", &old[..start])
            }
        }
        None => format!("{}\n\n{section}\n", old.trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let d = Dist::of((1..=200).map(f64::from).collect());
        assert_eq!(
            (d.n, d.p50_ms, d.p99_ms, d.max_ms),
            (200, 100.0, 198.0, 200.0)
        );
        assert_eq!(Dist::of(vec![]).n, 0);
    }

    #[test]
    fn section_is_replaced_not_duplicated() {
        let a = format!("# Benchmarks\n\ntable\n\n{HEADING}\n\nold\n\n## Other\n\nkeep\n");
        let b = replace_section(&a, &format!("{HEADING}\n\nnew\n"));
        assert_eq!(
            b,
            format!("# Benchmarks\n\ntable\n\n{HEADING}\n\nnew\n\n## Other\n\nkeep\n")
        );
        let c = replace_section("# Benchmarks\n\ntable\n", &format!("{HEADING}\n\nnew\n"));
        assert_eq!(c, format!("# Benchmarks\n\ntable\n\n{HEADING}\n\nnew\n"));
        assert_eq!(replace_section(&c, &format!("{HEADING}\n\nnew\n")), c);
    }
}
