//! The layered configuration of `vidid`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use vidid_server::{MediaConfig, TurnConfig};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// State, recordings and generated secrets.
    pub data_dir: PathBuf,
    pub http: HttpConfig,
    pub media: MediaConfig,
    pub turn: TurnConfig,
    pub api: ApiConfig,
    pub log: LogConfig,
    /// `[vault]`: the recording vault (store, keys, retention; see docs/recording-format.md).
    pub vault: vidid_vault::VaultConfig,
    /// `[cases]`: the identification service (store, hours, queue, TAN, sessions; docs/api.md).
    pub cases: vidid_signaling::vidid_cases::CasesConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// `[http.rate_limit]`: limits on `/api/v1/*` per client (docs/api.md).
    pub rate_limit: vidid_signaling::ratelimit::RateLimitConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// The ordering system's API key. Unset: generated into `<data-dir>/secrets/api-key`.
    #[serde(skip_serializing)]
    pub key: Option<String>,
    /// How long a call's join links stay valid.
    pub call_ttl_secs: u64,
    /// Signs webhook bodies (HMAC-SHA256). Unset: generated into
    /// `<data-dir>/secrets/webhook-secret`.
    #[serde(skip_serializing)]
    pub webhook_secret: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `tracing` filter, e.g. `info` or `vidid_server=debug,info`; `RUST_LOG` wins.
    pub level: String,
    /// JSON lines instead of text.
    pub json: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("vidid-data"),
            http: HttpConfig::default(),
            media: MediaConfig::default(),
            turn: TurnConfig::default(),
            api: ApiConfig::default(),
            log: LogConfig::default(),
            vault: vidid_vault::VaultConfig::default(),
            cases: Default::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            rate_limit: Default::default(),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            key: None,
            call_ttl_secs: 24 * 3600,
            webhook_secret: None,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            json: false,
        }
    }
}

impl Config {
    /// Defaults → file → `VIDID__SECTION__KEY` → flags.
    pub fn load(
        file: Option<&Path>,
        data_dir: Option<PathBuf>,
        listen: Option<SocketAddr>,
    ) -> anyhow::Result<Config> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.is_file() {
                anyhow::bail!("config file {} does not exist", file.display());
            }
            fig = fig.merge(Toml::file(file));
        }
        fig = fig.merge(Env::prefixed("VIDID__").split("__"));
        if let Some(d) = data_dir {
            fig = fig.merge(Serialized::default("data_dir", d));
        }
        if let Some(l) = listen {
            fig = fig.merge(Serialized::default("http.listen", l.to_string()));
        }
        let cfg: Config = fig.extract().context("invalid configuration")?;
        cfg.vault
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        cfg.http
            .rate_limit
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        cfg.cases
            .validate()
            .map_err(|e| anyhow::anyhow!("[cases] {e}"))?;
        if cfg.media.video_codecs.is_empty() {
            anyhow::bail!("invalid configuration: media.video_codecs must name at least one codec");
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail fixes the closure's error type
    fn layers_and_unknown_keys() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "v.toml",
                "[media]\nudp_port = 40000\n[log]\nlevel = \"debug\"\n",
            )?;
            jail.set_env("VIDID__MEDIA__UDP_PORT", "40010");
            let cfg = Config::load(Some(Path::new("v.toml")), Some("d".into()), None).unwrap();
            assert_eq!(cfg.media.udp_port, 40010, "env beats the file");
            assert_eq!(cfg.log.level, "debug");
            assert_eq!(cfg.data_dir, PathBuf::from("d"));
            jail.create_file("bad.toml", "[media]\nudp_prot = 1\n")?;
            let err = Config::load(Some(Path::new("bad.toml")), None, None).unwrap_err();
            assert!(format!("{err:#}").contains("udp_prot"), "{err:#}");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail fixes the closure's error type
    fn cases_section_layers_and_is_validated() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[cases.queue]\nmax_length = 7\n")?;
            jail.set_env("VIDID__CASES__TAN__TTL_SECS", "120");
            let cfg = Config::load(Some(Path::new("c.toml")), None, None).unwrap();
            assert_eq!(cfg.cases.queue.max_length, 7);
            assert_eq!(cfg.cases.tan.ttl_secs, 120, "env reaches nested cases keys");
            jail.create_file("typo.toml", "[cases.queue]\nmax_lenght = 7\n")?;
            let err = Config::load(Some(Path::new("typo.toml")), None, None).unwrap_err();
            assert!(format!("{err:#}").contains("max_lenght"), "{err:#}");
            jail.create_file("bad.toml", "[cases.queue]\nmax_length = 0\n")?;
            let err = Config::load(Some(Path::new("bad.toml")), None, None).unwrap_err();
            assert!(format!("{err:#}").contains("queue.max_length"), "{err:#}");
            Ok(())
        });
    }
}
