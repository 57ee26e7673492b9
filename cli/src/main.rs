//! # vidid: the one binary
//!
//! `vidid serve` runs signaling, the media server and the recorder in one process with
//! embedded defaults (local state and generated development secrets in the data directory).
//! `vidid recording …` works on recordings for compliance staff.
//!
//! Settings are layered: built-in defaults → the `--config` TOML file → `VIDID__SECTION__KEY`
//! environment variables → command-line flags. Unknown keys are refused at start-up.

mod config;
mod keys;
mod library;
mod recording;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing::info;

use vidid_signaling::cluster::NodeRole;

use crate::config::Config;

#[derive(Parser)]
#[command(
    name = "vidid",
    version,
    about = "Real-time video identification media server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: signaling, media and recording, on one machine.
    Serve {
        /// Directory for state, recordings and generated secrets.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// HTTP listen address, e.g. 127.0.0.1:8080.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// TOML config file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// all (everything on one machine), signaling or media (a scale-out deployment).
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
    },
    /// Work with recordings.
    Recording {
        #[command(subcommand)]
        command: recording::RecordingCommand,
    },
    /// Check a case's audit trail exported or sealed as JSON lines (the compliance portal's
    /// "audit trail" evidence): every entry's hash and the chain. Exit 0 intact, 1 broken.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Manage the recording vault's keys (KEKs, signing key).
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Manage staff users (agents, supervisors, compliance officers, admins).
    User {
        #[command(subcommand)]
        command: UserCommand,
        /// Directory for state (the case store lives here by default).
        #[arg(long, global = true)]
        data_dir: Option<PathBuf>,
        /// TOML config file.
        #[arg(long, global = true)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify a trail file (`audit-trail.jsonl`).
    Verify {
        file: PathBuf,
        /// The head hash the trail must end with (e.g. from the case's `TrailSealed` entry).
        #[arg(long)]
        head: Option<String>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RoleArg {
    All,
    Signaling,
    Media,
}

impl From<RoleArg> for NodeRole {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::All => NodeRole::All,
            RoleArg::Signaling => NodeRole::Signaling,
            RoleArg::Media => NodeRole::Media,
        }
    }
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a local user. The password is read from `--password-file` or the first line of
    /// standard input, never from the command line.
    Add {
        name: String,
        /// agent, supervisor, compliance or admin.
        #[arg(long)]
        role: String,
        /// A file whose first line is the password.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// List users.
    List,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            data_dir,
            listen,
            config,
            role,
        } => {
            let cfg =
                Config::load_with_role(config.as_deref(), data_dir, listen, role.map(Into::into))?;
            init_tracing(&cfg);
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(serve(cfg))
        }
        Command::Recording { command } => {
            init_cli_tracing();
            let code = recording::run(command)?;
            std::process::exit(code)
        }
        Command::Keys { command } => keys::run(command),
        Command::Audit {
            command: AuditCommand::Verify { file, head },
        } => std::process::exit(verify_trail(&file, head.as_deref())?),
        Command::User {
            command,
            data_dir,
            config,
        } => {
            init_cli_tracing();
            let cfg = Config::load(config.as_deref(), data_dir, None)?;
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(user(cfg, command))
        }
    }
}

async fn user(cfg: Config, command: UserCommand) -> anyhow::Result<()> {
    use vidid_signaling::vidid_cases::{Cases, Role};
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    if let UserCommand::Add { role, .. } = &command
        && Role::parse_staff(role).is_none()
    {
        anyhow::bail!("unknown role {role:?}: use agent, supervisor, compliance or admin");
    }
    let cases = Cases::open(cfg.cases.clone(), &cfg.data_dir)
        .await
        .context("opening the case store")?;
    match command {
        UserCommand::Add {
            name,
            role,
            password_file,
        } => {
            let role = Role::parse_staff(&role).with_context(|| {
                format!("unknown role {role:?}: use agent, supervisor, compliance or admin")
            })?;
            let raw = match password_file {
                Some(p) => std::fs::read_to_string(&p)
                    .with_context(|| format!("reading {}", p.display()))?,
                None => {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .context("reading the password from standard input")?;
                    line
                }
            };
            let password = raw.lines().next().unwrap_or("").to_string();
            let user = cases.add_user(&name, role, &password).await?;
            println!("added {} ({}, id {})", user.username, user.role, user.id);
        }
        UserCommand::List => {
            for u in cases.store().users().await? {
                println!(
                    "{}\t{}\t{}{}",
                    u.username,
                    u.role,
                    u.id,
                    if u.disabled { "\tdisabled" } else { "" }
                );
            }
        }
    }
    Ok(())
}

/// Warnings and errors of the offline commands go to stderr (`RUST_LOG` to see more).
fn init_cli_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn init_tracing(cfg: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cfg.log.json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(cfg: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    let registry = prometheus::Registry::new();
    let media_metrics = vidid_server::MediaMetrics::register(&registry)?;
    // The recording vault: keys, store check (refuses a store without WORM), spool recovery.
    let vault = {
        let (vault_cfg, dir) = (cfg.vault.clone(), cfg.data_dir.clone());
        Arc::new(
            tokio::task::spawn_blocking(move || vidid_vault::Vault::open(&vault_cfg, &dir))
                .await?
                .context("opening the recording vault")?,
        )
    };
    let sink = Arc::new(
        vidid_recorder::LocalRecordingSink::new(&cfg.data_dir)?.with_outputs(vault.outputs()),
    );
    let recorder_hook = recorder_metrics(&registry, sink.stats())?;
    let vault_hook = recording::vault_metrics(&registry, vault.stats())?;
    let media = vidid_server::MediaServer::start(
        cfg.media.clone(),
        cfg.http.listen.ip(),
        sink.clone(),
        media_metrics,
    )
    .await?;
    let api_key = match &cfg.api.key {
        Some(k) => k.clone(),
        None => {
            let (key, path) = vidid_signaling::secrets::load_or_create(&cfg.data_dir, "api-key")?;
            info!(path = %path.display(), "using the generated development api key");
            key
        }
    };
    let clock = cases_clock()?;
    let cases = Arc::new(
        vidid_signaling::vidid_cases::Cases::open_with_clock(
            cfg.cases.clone(),
            &cfg.data_dir,
            clock,
        )
        .await
        .context("opening the case store")?,
    );
    let webhook_secret = match &cfg.api.webhook_secret {
        Some(s) => s.clone(),
        None => {
            let (s, path) =
                vidid_signaling::secrets::load_or_create(&cfg.data_dir, "webhook-secret")?;
            info!(path = %path.display(), "using the generated development webhook secret");
            s
        }
    };
    // Evidence images and the portal's recordings go through the vault (encrypted, WORM).
    let keys = Arc::new(
        vidid_vault::keys::FileKeys::open(cfg.vault.keys_dir(&cfg.data_dir))
            .context("opening the vault's keys")?,
    );
    // One secret signs join tokens and portal grants, shared by every node of a deployment.
    let cluster_secret = match &cfg.cluster.secret {
        Some(s) => s.clone(),
        None => vidid_signaling::secrets::load_or_create(&cfg.data_dir, "cluster-secret")?.0,
    };
    let cluster = cluster(&cfg, &registry, cluster_secret.as_bytes())?;
    let cases_ctx = Arc::new(
        vidid_signaling::cases_api::CasesCtx::new(
            cases,
            Arc::new(library::VaultEvidence(vault.clone())),
            webhook_secret,
        )
        .with_recordings(Arc::new(library::VaultLibrary::new(&vault, keys)))
        .with_grant_secret(cluster_secret.as_bytes())
        .with_cluster(cluster.clone()),
    );
    let role = cfg.node.role;
    let mut background = Vec::new();
    if role != NodeRole::Media {
        background.push(vidid_signaling::background::spawn_sweeper(
            cases_ctx.clone(),
            std::time::Duration::from_secs(5),
        ));
        background.push(vidid_signaling::background::spawn_webhook_sender(
            cases_ctx.clone(),
            std::time::Duration::from_secs(2),
        ));
    }
    let state = Arc::new(vidid_signaling::AppState {
        calls: Arc::new(vidid_signaling::calls::MemoryCallStore::default()),
        media: media.clone(),
        turn: cfg.turn.clone(),
        api_key,
        call_ttl: time::Duration::seconds(cfg.api.call_ttl_secs as i64),
        metrics: vidid_signaling::SignalingMetrics::register(&registry)?,
        registry,
        scrape_hooks: vec![recorder_hook, vault_hook],
        cases: Some(cases_ctx),
    });
    background.extend(vidid_signaling::cluster::spawn(
        cluster.clone(),
        state.clone(),
        cases_ctx_of(&state),
    ));
    let listener = std::net::TcpListener::bind(cfg.http.listen)
        .with_context(|| format!("binding http listener {}", cfg.http.listen))?;
    listener.set_nonblocking(true)?;
    info!(
        http = %listener.local_addr()?,
        tls = cfg.http.tls_cert.is_some(),
        role = role.as_str(),
        node = %cluster.node_id,
        media_udp = %media.local_addr(),
        data_dir = %cfg.data_dir.display(),
        "vidid serving"
    );
    let limiter = vidid_signaling::ratelimit::RateLimiter::new(cfg.http.rate_limit.clone())
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let app = vidid_signaling::ratelimit::with_limiter(
        vidid_signaling::router(state.clone()),
        Arc::new(limiter),
    );
    let handle = axum_server::Handle::new();
    let make = app.into_make_service_with_connect_info::<SocketAddr>();
    let server = match (&cfg.http.tls_cert, &cfg.http.tls_key) {
        (Some(cert), Some(key)) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .with_context(|| {
                    format!(
                        "reading the TLS certificate {} and key {}",
                        cert.display(),
                        key.display()
                    )
                })?;
            let h = handle.clone();
            tokio::spawn(async move {
                axum_server::from_tcp_rustls(listener, tls)?
                    .handle(h)
                    .serve(make)
                    .await
            })
        }
        _ => {
            let h = handle.clone();
            tokio::spawn(
                async move { axum_server::from_tcp(listener)?.handle(h).serve(make).await },
            )
        }
    };

    // Drain: not ready, no new calls; running calls may finish within the grace period; a
    // second signal ends them at once.
    shutdown_signal().await;
    cluster.start_draining();
    cluster.heartbeat_now(&state, &cases_ctx_of(&state)).await;
    let grace = std::time::Duration::from_secs(cfg.node.drain_grace_secs);
    let running = media.load().await.map(|l| l.calls).unwrap_or(0);
    if running > 0 && !grace.is_zero() {
        info!(
            calls = running,
            grace_secs = grace.as_secs(),
            "draining: waiting for calls to finish (signal again to end them now)"
        );
        tokio::select! {
            _ = wait_for_calls_to_end(&media, grace) => {}
            _ = shutdown_signal() => info!("second signal: ending the calls now"),
        }
    }
    for task in &background {
        task.abort();
    }
    // Calls end before the sockets close, so every recording is finished, not cut.
    let ended = media.end_all("the server is shutting down").await;
    for call in &ended {
        let _ = state.calls.end(&call.call_id, call.recording_id.clone());
    }
    handle.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    match tokio::time::timeout(std::time::Duration::from_secs(12), server).await {
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "http server stopped with an error"),
        Err(_) => tracing::warn!("http connections did not close within 10 s"),
        _ => {}
    }
    if role == NodeRole::Media
        && let Err(e) = cases_ctx_of(&state)
            .cases
            .store()
            .remove_node(&cluster.node_id)
            .await
    {
        tracing::warn!(error = %e, "leaving the media node registry");
    }
    if !sink.wait_idle(std::time::Duration::from_secs(10)) {
        tracing::warn!("some recordings were still being written at exit");
    }
    let v = vault.clone();
    let _ =
        tokio::task::spawn_blocking(move || v.shutdown(std::time::Duration::from_secs(10))).await;
    info!(calls_ended = ended.len(), "stopped");
    Ok(())
}

/// `vidid audit verify`: 0 intact (and ending at `head` when given), 1 not.
fn verify_trail(file: &std::path::Path, head: Option<&str>) -> anyhow::Result<i32> {
    use vidid_signaling::vidid_cases::audit::{parse_jsonl, verify_chain};
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let entries = match parse_jsonl(&text) {
        Ok(e) => e,
        Err(e) => {
            println!("not a vidid audit trail: {e}");
            return Ok(1);
        }
    };
    let Some(last) = entries.last() else {
        println!("the trail is empty");
        return Ok(1);
    };
    if let Err(b) = verify_chain(&entries, None) {
        println!("BROKEN: {b}");
        return Ok(1);
    }
    if let Some(h) = head
        && h != last.hash
    {
        println!(
            "BROKEN: the trail ends at {} (entry {}), not at {h}: entries are missing at the end",
            last.hash, last.seq
        );
        return Ok(1);
    }
    println!(
        "verified: case {}, {} entries, head {}",
        last.case_id,
        entries.len(),
        last.hash
    );
    Ok(0)
}

/// This process's place in the deployment (`vidid_signaling::cluster`).
fn cluster(
    cfg: &Config,
    registry: &prometheus::Registry,
    secret: &[u8],
) -> anyhow::Result<Arc<vidid_signaling::cluster::Cluster>> {
    let node_id = match &cfg.node.id {
        Some(id) => id.clone(),
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "vidid".into()),
    };
    let public_url = cfg.node.public_url.clone().unwrap_or_else(|| {
        let scheme = if cfg.http.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", cfg.http.listen)
    });
    Ok(vidid_signaling::cluster::Cluster::new(
        vidid_signaling::cluster::ClusterSettings {
            role: cfg.node.role,
            node_id,
            public_url,
            capacity: cfg
                .node
                .capacity
                .unwrap_or(u32::try_from(cfg.media.max_calls).unwrap_or(u32::MAX)),
            heartbeat: std::time::Duration::from_secs(cfg.node.heartbeat_secs),
            secret: secret.to_vec(),
        },
        registry,
    )?)
}

fn cases_ctx_of(state: &vidid_signaling::AppState) -> Arc<vidid_signaling::cases_api::CasesCtx> {
    state
        .cases
        .clone()
        .expect("vidid serve always runs the cases service")
}

/// Returns once no call runs on this node, or after `grace`.
async fn wait_for_calls_to_end(media: &vidid_server::MediaServer, grace: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + grace;
    while tokio::time::Instant::now() < deadline {
        match media.load().await {
            Ok(l) if l.calls == 0 => return,
            Err(_) => return,
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
        }
    }
    tracing::warn!(
        grace_secs = grace.as_secs(),
        "drain grace period over: ending the remaining calls"
    );
}

fn recorder_metrics(
    registry: &prometheus::Registry,
    stats: Arc<vidid_recorder::RecorderStats>,
) -> anyhow::Result<Box<dyn Fn() + Send + Sync>> {
    let bytes = prometheus::IntCounter::new(
        "vidid_recorder_bytes_written_total",
        "Bytes the recorder wrote",
    )?;
    let packets = prometheus::IntCounter::new(
        "vidid_recorder_packets_written_total",
        "Audio packets the recorder wrote",
    )?;
    let dropped = prometheus::IntCounter::new(
        "vidid_recorder_packets_dropped_total",
        "Audio packets the recorder dropped (late, duplicate, overflow)",
    )?;
    let active = prometheus::IntGauge::new(
        "vidid_recorder_active_recordings",
        "Recordings being written",
    )?;
    for c in [&bytes, &packets, &dropped] {
        registry.register(Box::new(c.clone()))?;
    }
    registry.register(Box::new(active.clone()))?;
    // The recorder keeps plain atomics; copy them into the counters at scrape time.
    let catch_up = |c: &prometheus::IntCounter, v: u64| c.inc_by(v.saturating_sub(c.get()));
    Ok(Box::new(move || {
        let s = stats.snapshot();
        catch_up(&bytes, s.bytes_written);
        catch_up(&packets, s.packets_written);
        catch_up(&dropped, s.packets_dropped());
        active.set(s.recordings_active as i64);
    }))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    info!("shutdown requested");
}

/// The cases' clock: the system clock, unless `VIDID_FAKE_NOW` (RFC 3339) asks for one that
/// starts at another instant — for end-to-end tests of working hours and link expiry only.
fn cases_clock() -> anyhow::Result<Arc<dyn vidid_signaling::vidid_cases::Clock>> {
    use vidid_signaling::vidid_cases::{ShiftedClock, SystemClock};
    let Ok(raw) = std::env::var("VIDID_FAKE_NOW") else {
        return Ok(Arc::new(SystemClock));
    };
    let start = time::OffsetDateTime::parse(&raw, &time::format_description::well_known::Rfc3339)
        .with_context(|| format!("VIDID_FAKE_NOW={raw:?} is not an RFC 3339 time"))?;
    tracing::warn!(%start, "VIDID_FAKE_NOW: the cases clock is shifted; for tests only");
    Ok(Arc::new(ShiftedClock::starting_at(start)))
}

#[cfg(test)]
mod tests {
    use vidid_signaling::vidid_cases::Actor;
    use vidid_signaling::vidid_cases::audit::{AuditEvent, ChainHead, export_jsonl, next_entry};

    #[test]
    fn audit_verify_finds_edits_cuts_and_wrong_heads() {
        let dir = tempfile::tempdir().unwrap();
        let mut head = ChainHead::default();
        let mut entries = Vec::new();
        for ev in [
            AuditEvent::QueueJoined,
            AuditEvent::QueueLeft,
            AuditEvent::QueueJoined,
        ] {
            let e = next_entry(
                "cs_1",
                &head,
                time::OffsetDateTime::now_utc(),
                &Actor::system("t"),
                &ev,
            )
            .unwrap();
            head = ChainHead {
                len: e.seq,
                hash: e.hash.clone(),
            };
            entries.push(e);
        }
        let file = dir.path().join("trail.jsonl");
        let text = export_jsonl(&entries);
        std::fs::write(&file, &text).unwrap();
        assert_eq!(super::verify_trail(&file, None).unwrap(), 0);
        assert_eq!(super::verify_trail(&file, Some(&head.hash)).unwrap(), 0);
        // The last entry cut off: intact as a chain, but not up to the sealed head.
        std::fs::write(&file, export_jsonl(&entries[..2])).unwrap();
        assert_eq!(super::verify_trail(&file, Some(&head.hash)).unwrap(), 1);
        // An entry edited.
        std::fs::write(&file, text.replacen("queue_left", "queue_joined", 1)).unwrap();
        assert_eq!(super::verify_trail(&file, None).unwrap(), 1);
        // Not a trail at all.
        std::fs::write(&file, "hello\n").unwrap();
        assert_eq!(super::verify_trail(&file, None).unwrap(), 1);
    }
}
