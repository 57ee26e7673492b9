//! `vidid recording …`: export and verify recordings in the vault; the vault's metrics.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;
use vidid_vault::keys::FileKeys;
use vidid_vault::read::Archive;
use vidid_vault::store::{LocalStore, RecordingStore, S3Store};
use vidid_vault::verify::VerifyOptions;

use vidid_node::Config;

#[derive(Subcommand)]
pub enum RecordingCommand {
    /// Decrypt a recording from the vault: a stereo WAV (customer left, agent right) and/or
    /// the Ogg Opus file exactly as recorded. Plaintext is written only to the files named.
    Export {
        /// Recording id (as returned when the call ended).
        id: String,
        /// Write a 48 kHz 16-bit stereo WAV here.
        #[arg(long, required_unless_present = "ogg")]
        wav: Option<PathBuf>,
        /// Write the decrypted Ogg Opus recording here (both parties' streams, bit-exact).
        #[arg(long)]
        ogg: Option<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Verify a recording: manifest signature, hash chain, every object's SHA-256, every
    /// segment's tag, retention and tags; says exactly what failed.
    ///
    /// Exit status: 0 verified and complete; 1 a check failed (tampered, damaged, missing, or
    /// it could not be checked); 3 authentic but incomplete (e.g. the server died mid-call).
    Verify {
        /// A recording id (in the configured store), a recording directory of a local store
        /// (`<dir>/objects/recordings/<id>`), or `s3://bucket/[prefix/]recordings/<id>`
        /// (endpoint and credentials from the configuration).
        target: String,
        /// Accept only this Ed25519 public key (base64, as in `keys/signing-<id>.pub`).
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// Do not decrypt (no key directory): check hashes, signature, chain and retention.
        #[arg(long)]
        without_keys: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// Run a recording command; returns the process exit code.
pub fn run(command: RecordingCommand) -> anyhow::Result<i32> {
    match command {
        RecordingCommand::Export {
            id,
            wav,
            ogg,
            data_dir,
            config,
        } => {
            let cfg = Config::load(config.as_deref(), data_dir, None)?;
            export(&cfg, &id, wav.as_deref(), ogg.as_deref())?;
            Ok(0)
        }
        RecordingCommand::Verify {
            target,
            public_key,
            without_keys,
            json,
            data_dir,
            config,
        } => {
            let cfg = Config::load(config.as_deref(), data_dir, None)?;
            verify(&cfg, &target, public_key.as_deref(), without_keys, json)
        }
    }
}

/// The configured store and the data directory's keys.
fn archive(
    cfg: &Config,
    store: Arc<dyn RecordingStore>,
    with_keys: bool,
) -> anyhow::Result<Archive> {
    let keys_dir = cfg.vault.keys_dir(&cfg.data_dir);
    let keys = if with_keys && keys_dir.is_dir() {
        Some(Arc::new(FileKeys::open(&keys_dir)?))
    } else {
        None
    };
    Ok(Archive {
        store,
        keys: keys
            .clone()
            .map(|k| k as Arc<dyn vidid_vault::keys::KeyProvider>),
        local_keys: keys,
        trusted_key: None,
    })
}

fn export(cfg: &Config, id: &str, wav: Option<&Path>, ogg: Option<&Path>) -> anyhow::Result<()> {
    vidid_recorder::validate_recording_id(id)?;
    let store = vidid_vault::open_store(&cfg.vault, &cfg.data_dir)?;
    let archive = archive(cfg, store, true)?;
    if archive.keys.is_none() {
        bail!(
            "no key directory {}: the recording cannot be decrypted here",
            cfg.vault.keys_dir(&cfg.data_dir).display()
        );
    }
    match archive.manifest(id) {
        Ok(_) => {}
        Err(vidid_vault::VaultError::NotFound(why)) => {
            // Recordings made before the vault: a plain audio.ogg in the recording directory.
            let legacy = cfg.data_dir.join("recordings").join(id);
            if legacy.join("audio.ogg").is_file() {
                tracing::warn!(
                    recording_id = id,
                    "exporting an unencrypted recording made before the vault"
                );
                if let Some(wav) = wav {
                    let s = vidid_recorder::export_wav(&legacy, wav)?;
                    println!("{}", serde_json::to_string(&s)?);
                }
                if let Some(ogg) = ogg {
                    std::fs::copy(legacy.join("audio.ogg"), ogg)?;
                }
                return Ok(());
            }
            bail!("no recording {why} in {}", archive.store.describe());
        }
        Err(e) => return Err(e).with_context(|| format!("reading the manifest of {id}")),
    }
    if let Some(wav) = wav {
        let summary = archive
            .export_wav(id, wav, &vidid_recorder::ExportOptions::default())
            .with_context(|| format!("exporting recording {id}"))?;
        println!("{}", serde_json::to_string(&summary)?);
    }
    if let Some(ogg) = ogg {
        let summary = archive
            .export_ogg(id, ogg)
            .with_context(|| format!("exporting recording {id}"))?;
        println!("{}", serde_json::to_string(&summary)?);
    }
    Ok(())
}

/// Where `verify` reads from, and the recording id.
fn resolve_target(cfg: &Config, target: &str) -> anyhow::Result<(Arc<dyn RecordingStore>, String)> {
    if let Some(rest) = target.strip_prefix("s3://") {
        let rest = rest.trim_end_matches('/');
        let (bucket, path) = rest
            .split_once('/')
            .with_context(|| format!("{target}: want s3://bucket/[prefix/]recordings/<id>"))?;
        let (prefix, id) = match path.rsplit_once("recordings/") {
            Some((prefix, id)) if !id.is_empty() && !id.contains('/') => (prefix, id),
            _ => bail!("{target}: want s3://bucket/[prefix/]recordings/<id>"),
        };
        let mut s3 = cfg.vault.s3.clone();
        s3.bucket = bucket.to_owned();
        s3.prefix = prefix.trim_end_matches('/').to_owned();
        return Ok((Arc::new(S3Store::new(&s3)?), id.to_owned()));
    }
    let path = Path::new(target);
    if path.exists() {
        let dir = if path.is_file() {
            path.parent().unwrap_or(Path::new("."))
        } else {
            path
        };
        let dir = dir
            .canonicalize()
            .with_context(|| format!("resolving {}", dir.display()))?;
        let id = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let parents: Vec<&Path> = dir.ancestors().collect();
        let in_store = parents.len() > 3
            && parents[1].file_name().is_some_and(|n| n == "recordings")
            && parents[2].file_name().is_some_and(|n| n == "objects")
            && parents[3].join("retention").is_dir();
        if !in_store {
            bail!(
                "{} is not a recording directory of a local vault store (<store>/objects/recordings/<id>)",
                path.display()
            );
        }
        return Ok((Arc::new(LocalStore::open(parents[3])?), id));
    }
    vidid_recorder::validate_recording_id(target)?;
    Ok((
        vidid_vault::open_store(&cfg.vault, &cfg.data_dir)?,
        target.to_owned(),
    ))
}

fn verify(
    cfg: &Config,
    target: &str,
    public_key: Option<&Path>,
    without_keys: bool,
    json: bool,
) -> anyhow::Result<i32> {
    let (store, id) = resolve_target(cfg, target)?;
    let mut archive = archive(cfg, store, !without_keys)?;
    if let Some(path) = public_key {
        use base64::Engine as _;
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .with_context(|| format!("{} is not a base64 public key", path.display()))?;
        archive.trusted_key = Some(key);
    }
    let report = archive.verify(
        &id,
        VerifyOptions {
            retention: true,
            decrypt: !without_keys,
        },
    );
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", report.to_text())?;
    }
    out.flush()?;
    Ok(report.verdict.exit_code())
}
