//! # vidid: the one binary
//!
//! `vidid serve` builds a node for its role (`vidid_node`: everything on one machine by
//! default, with local state and generated development secrets in the data directory) and
//! runs it until a signal: the first drains, a second ends the running calls at once.
//! `vidid recording …` works on recordings for compliance staff.
//!
//! Settings are layered: built-in defaults → the `--config` TOML file → `VIDID__SECTION__KEY`
//! environment variables → command-line flags. Unknown keys are refused at start-up.

mod keys;
mod recording;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use vidid_control::NodeRole;
use vidid_node::Config;

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
    use vidid_cases::{Cases, Role};
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
            for u in cases.users().await? {
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
    let wiring = vidid_node::Wiring {
        clock: cases_clock()?,
        ..Default::default()
    };
    let listen = cfg.http.listen;
    let node = vidid_node::Node::build(cfg, wiring).await?;
    let listener = std::net::TcpListener::bind(listen)
        .with_context(|| format!("binding http listener {listen}"))?;
    // The first signal drains; a second one ends the running calls at once.
    node.run(listener, shutdown_signal(), shutdown_signal())
        .await?;
    Ok(())
}

/// `vidid audit verify`: 0 intact (and ending at `head` when given), 1 not.
fn verify_trail(file: &std::path::Path, head: Option<&str>) -> anyhow::Result<i32> {
    use vidid_cases::audit::{parse_jsonl, verify_chain};
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
}

/// The cases' clock: the system clock, unless `VIDID_FAKE_NOW` (RFC 3339) asks for one that
/// starts at another instant — for end-to-end tests of working hours and link expiry only.
fn cases_clock() -> anyhow::Result<Arc<dyn vidid_cases::Clock>> {
    use vidid_cases::{ShiftedClock, SystemClock};
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
    use vidid_cases::Actor;
    use vidid_cases::audit::{AuditEvent, ChainHead, export_jsonl, next_entry};

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
