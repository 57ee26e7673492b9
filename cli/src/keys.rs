//! `vidid keys …`: the vault's key-encryption keys and the deployment's signing key.
//!
//! Prints ids and public-key fingerprints only, never key material.

use std::path::PathBuf;

use clap::Subcommand;
use vidid_vault::keys::{FileKeys, KeyProvider, fingerprint};

use vidid_node::Config;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create the first KEK and signing key if there are none (`serve` does this on first
    /// start). Safe to run again.
    Generate {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Make a new KEK current for new recordings (a running server picks it up); older KEKs
    /// stay and keep decrypting. With --signing, rotate the manifest signing key instead
    /// (applies at the next start, which publishes the new public key).
    Rotate {
        #[arg(long)]
        signing: bool,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// List key ids and the signing keys' public-key fingerprints.
    List {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

pub fn run(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Generate { data_dir, config } => {
            let cfg = Config::load(config.as_deref(), data_dir, None)?;
            let dir = cfg.vault.keys_dir(&cfg.data_dir);
            let (keys, ensured) = FileKeys::ensure(&dir)?;
            match &ensured.created_kek {
                Some(id) => println!("created KEK {id}"),
                None => println!("KEK present: {}", keys.current_kek_id()?),
            }
            match &ensured.created_signing_key {
                Some(id) => println!("created signing key {id}"),
                None => println!("signing key present: {}", keys.current_signing_key_id()?),
            }
            list(&keys)
        }
        KeysCommand::Rotate {
            signing,
            data_dir,
            config,
        } => {
            let cfg = Config::load(config.as_deref(), data_dir, None)?;
            let dir = cfg.vault.keys_dir(&cfg.data_dir);
            if signing {
                let id = FileKeys::rotate_signing_key(&dir)?;
                println!("new signing key {id} (restart the server to sign and publish with it)");
            } else {
                let id = FileKeys::rotate_kek(&dir)?;
                println!("new KEK {id} wraps new recordings; older KEKs still decrypt theirs");
            }
            list(&FileKeys::open(&dir)?)
        }
        KeysCommand::List { data_dir, config } => {
            let cfg = Config::load(config.as_deref(), data_dir, None)?;
            list(&FileKeys::open(cfg.vault.keys_dir(&cfg.data_dir))?)
        }
    }
}

fn list(keys: &FileKeys) -> anyhow::Result<()> {
    let current = keys.current_kek_id().ok();
    println!("key directory {}", keys.dir().display());
    for id in keys.kek_ids()? {
        let mark = if current.as_deref() == Some(id.as_str()) {
            " (current)"
        } else {
            ""
        };
        println!("  kek      {id}{mark}");
    }
    let current = keys.current_signing_key_id().ok();
    for id in keys.signing_key_ids()? {
        let mark = if current.as_deref() == Some(id.as_str()) {
            " (current)"
        } else {
            ""
        };
        let fp = keys
            .signing_public_key(&id)
            .map(|pk| fingerprint(&pk))
            .unwrap_or_else(|e| format!("unreadable: {e}"));
        println!("  signing  {id}{mark}  public key sha256 {fp}");
    }
    Ok(())
}
