//! The layered configuration of `vidid serve` (and of the operator commands that read the
//! same file): built-in defaults → the `--config` TOML file → `VIDID__SECTION__KEY`
//! environment variables → command-line flags. Unknown keys are refused.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use vidid_server::{MediaConfig, TurnConfig};

use crate::NodeError;

/// Refuses the configuration with a message.
macro_rules! bail {
    ($($t:tt)*) => {
        return Err(NodeError::Config(format!($($t)*)))
    };
}

/// The whole configuration of a node, one field per section of the config file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// State, recordings and generated secrets.
    pub data_dir: PathBuf,
    /// `[http]`: the listener, TLS and the REST rate limits.
    pub http: HttpConfig,
    /// `[media]`: the media socket and what it tells browsers.
    pub media: MediaConfig,
    /// `[turn]`: the STUN/TURN servers handed to browsers.
    pub turn: TurnConfig,
    /// `[api]`: the ordering system's API key, call links and webhook signing.
    pub api: ApiConfig,
    /// `[log]`: the log filter and format.
    pub log: LogConfig,
    /// `[vault]`: the recording vault (store, keys, retention; see docs/recording-format.md).
    pub vault: vidid_vault::VaultConfig,
    /// `[cases]`: the identification service (store, hours, queue, TAN, sessions; docs/api.md).
    pub cases: vidid_cases::CasesConfig,
    /// `[node]`: this process's role and place in a scale-out deployment (deploy/README.md).
    pub node: NodeConfig,
    /// `[cluster]`: what all nodes of one deployment share.
    pub cluster: ClusterConfig,
}

/// `[node]`: this process's role and place in a scale-out deployment.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// `all` (everything in one process), `signaling` or `media`; `--role`.
    pub role: vidid_control::NodeRole,
    /// Unique per node; default: the host name.
    pub id: Option<String>,
    /// The base URL browsers use to reach this node (media nodes: required), e.g.
    /// `https://media-1.vidid.example`.
    pub public_url: Option<String>,
    /// Calls this node takes at most; default `media.max_calls`.
    pub capacity: Option<u32>,
    /// On SIGTERM: how long running calls may take to finish before they are ended.
    pub drain_grace_secs: u64,
    /// How often a media node writes its heartbeat; silent for three intervals is dead.
    pub heartbeat_secs: u64,
}

/// `[cluster]`: what all nodes of one deployment share.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Signs join tokens and portal grants; the same on every node (≥ 32 characters). Unset
    /// in the embedded mode: generated into `<data-dir>/secrets/cluster-secret`.
    #[serde(skip_serializing)]
    pub secret: Option<String>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            role: Default::default(),
            id: None,
            public_url: None,
            capacity: None,
            drain_grace_secs: 900,
            heartbeat_secs: 5,
        }
    }
}

/// `[http]`: the HTTP listener.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address the HTTP/WebSocket listener binds (default `127.0.0.1:8080`); `--listen`.
    pub listen: SocketAddr,
    /// PEM certificate chain; with `tls_key`, the listener serves HTTPS (browsers need it
    /// for camera access anywhere but localhost).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// `[http.rate_limit]`: limits on `/api/v1/*` per client (docs/api.md).
    pub rate_limit: vidid_signaling::ratelimit::RateLimitConfig,
}

/// `[api]`: what the ordering system's REST API needs.
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

/// `[log]`: what is logged and how.
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
            node: NodeConfig::default(),
            cluster: ClusterConfig::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls_cert: None,
            tls_key: None,
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
    ) -> Result<Config, NodeError> {
        Self::load_with_role(file, data_dir, listen, None)
    }

    /// [`Config::load`] with `--role`.
    pub fn load_with_role(
        file: Option<&Path>,
        data_dir: Option<PathBuf>,
        listen: Option<SocketAddr>,
        role: Option<vidid_control::NodeRole>,
    ) -> Result<Config, NodeError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.is_file() {
                bail!("config file {} does not exist", file.display());
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
        if let Some(r) = role {
            fig = fig.merge(Serialized::default("node.role", r));
        }
        let cfg: Config = fig
            .extract()
            .map_err(|e| NodeError::Config(format!("invalid configuration: {e}")))?;
        cfg.check_roles()?;
        cfg.vault
            .validate()
            .map_err(|e| NodeError::Config(format!("invalid configuration: {e}")))?;
        cfg.http
            .rate_limit
            .validate()
            .map_err(|e| NodeError::Config(format!("invalid configuration: {e}")))?;
        cfg.cases
            .validate()
            .map_err(|e| NodeError::Config(format!("[cases] {e}")))?;
        if cfg.media.video_codecs.is_empty() {
            bail!("invalid configuration: media.video_codecs must name at least one codec");
        }
        Ok(cfg)
    }
}

impl Config {
    /// The rules of a scale-out deployment (role ≠ all) and of TLS.
    fn check_roles(&self) -> Result<(), NodeError> {
        use vidid_control::NodeRole;
        if self.http.tls_cert.is_some() != self.http.tls_key.is_some() {
            bail!("invalid configuration: http.tls_cert and http.tls_key go together");
        }
        if self.node.heartbeat_secs == 0 {
            bail!("invalid configuration: node.heartbeat_secs must be at least 1");
        }
        if self.node.role == NodeRole::All {
            return Ok(());
        }
        let role = self.node.role.as_str();
        match self.cluster.secret.as_deref() {
            Some(s) if s.len() >= 32 => {}
            _ => bail!(
                "invalid configuration: role {role} needs cluster.secret (VIDID__CLUSTER__SECRET, at least 32 characters, the same on every node)"
            ),
        }
        let shared = self
            .cases
            .store
            .url
            .as_deref()
            .is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"));
        if !shared {
            bail!(
                "invalid configuration: role {role} needs the shared PostgreSQL store (cases.store.url = postgres://…)"
            );
        }
        if self.node.role == NodeRole::Media && self.node.public_url.is_none() {
            bail!(
                "invalid configuration: a media node needs node.public_url (where browsers reach it)"
            );
        }
        Ok(())
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

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail fixes the closure's error type
    fn roles_need_their_settings() {
        figment::Jail::expect_with(|jail| {
            use vidid_control::NodeRole;
            let cfg = Config::load(None, None, None).unwrap();
            assert_eq!(cfg.node.role, NodeRole::All);
            let err = Config::load_with_role(None, None, None, Some(NodeRole::Media)).unwrap_err();
            assert!(format!("{err:#}").contains("cluster.secret"), "{err:#}");
            jail.set_env("VIDID__CLUSTER__SECRET", "0123456789abcdef0123456789abcdef");
            let err = Config::load_with_role(None, None, None, Some(NodeRole::Media)).unwrap_err();
            assert!(format!("{err:#}").contains("PostgreSQL"), "{err:#}");
            jail.set_env(
                "VIDID__CASES__STORE__URL",
                "postgres://vidid@127.0.0.1/vidid",
            );
            let err = Config::load_with_role(None, None, None, Some(NodeRole::Media)).unwrap_err();
            assert!(format!("{err:#}").contains("public_url"), "{err:#}");
            jail.set_env("VIDID__NODE__PUBLIC_URL", "https://m1.example");
            jail.set_env("VIDID__NODE__ROLE", "signaling");
            let cfg = Config::load(None, None, None).unwrap();
            assert_eq!(cfg.node.role, NodeRole::Signaling, "env sets the role");
            let cfg = Config::load_with_role(None, None, None, Some(NodeRole::Media)).unwrap();
            assert_eq!(cfg.node.role, NodeRole::Media, "the flag wins");
            jail.set_env("VIDID__HTTP__TLS_CERT", "/etc/vidid/cert.pem");
            let err = Config::load(None, None, None).unwrap_err();
            assert!(format!("{err:#}").contains("tls_key"), "{err:#}");
            Ok(())
        });
    }
}
