//! The node: built from the configuration and the role, run until the shutdown future, then
//! drained (see the crate docs).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::info;
use vidid_cases::{Cases, Clock, SystemClock};
use vidid_control::calls::MemoryCallStore;
use vidid_control::evidence::EvidenceStore;
use vidid_control::grants::Grants;
use vidid_control::hub::Hub;
use vidid_control::metrics::ControlMetrics;
use vidid_control::queue_view::QueueView;
use vidid_control::recordings::Recordings;
use vidid_control::tokens::TokenSigner;
use vidid_control::{
    Attempts, Coordinator, LocalPlacement, NodeAgent, NodeRole, NodeSettings, Placement,
    RegistryPlacement, Rooms, jobs, node,
};
use vidid_signaling::ratelimit::RateLimiter;
use vidid_signaling::{AppState, SignalingMetrics};

use crate::config::Config;
use crate::error::NodeError;
use crate::{library, metrics, secrets};

/// What the composition root takes from outside the configuration (tests replace these).
pub struct Wiring {
    /// The cases' clock (default: the system clock).
    pub clock: Arc<dyn Clock>,
    /// Where evidence goes (default: the recording vault).
    pub evidence: Option<Arc<dyn EvidenceStore>>,
    /// Whether the compliance portal reaches the vault's recordings (default: yes; a test
    /// of the portal's refusal turns it off).
    pub recordings_reachable: bool,
    /// How often the webhook outbox is looked at.
    pub webhook_every: Duration,
    /// How often expired links and stale queue places are swept.
    pub sweep_every: Duration,
}

impl Default for Wiring {
    fn default() -> Self {
        Wiring {
            clock: Arc::new(SystemClock),
            evidence: None,
            recordings_reachable: true,
            webhook_every: Duration::from_secs(2),
            sweep_every: Duration::from_secs(5),
        }
    }
}

/// The media side of a node: the loop's rooms and the recorder behind them.
struct MediaSide {
    rooms: Arc<Rooms>,
    sink: Arc<vidid_recorder::LocalRecordingSink>,
}

/// A built node, ready to run; see the module docs.
pub struct Node {
    cfg: Config,
    state: Arc<AppState>,
    attempts: Arc<Attempts>,
    agent: Arc<NodeAgent>,
    media: Option<MediaSide>,
    vault: Arc<vidid_vault::Vault>,
    background: Vec<JoinHandle<()>>,
}

/// What a run did.
#[derive(Debug, Clone, Copy)]
pub struct RunReport {
    /// Calls ended by the shutdown (not finished by their parties within the grace).
    pub calls_ended: usize,
}

impl Node {
    /// Builds the node the configuration's role asks for (inside a tokio runtime).
    pub async fn build(cfg: Config, wiring: Wiring) -> Result<Node, NodeError> {
        std::fs::create_dir_all(&cfg.data_dir)
            .map_err(NodeError::io("creating the data directory"))?;
        let role = cfg.node.role;
        let registry = prometheus::Registry::new();
        let mut scrape_hooks: Vec<Box<dyn Fn() + Send + Sync>> = Vec::new();

        // The recording vault: keys, store check (refuses a store without WORM), spool
        // recovery. Every role has it: signaling nodes store evidence images in it.
        let vault = {
            let (vault_cfg, dir) = (cfg.vault.clone(), cfg.data_dir.clone());
            Arc::new(
                tokio::task::spawn_blocking(move || vidid_vault::Vault::open(&vault_cfg, &dir))
                    .await
                    .map_err(|e| NodeError::Internal(e.to_string()))??,
            )
        };
        scrape_hooks.push(metrics::vault_metrics(&registry, vault.stats())?);

        let cases = Arc::new(
            Cases::open_with_clock(cfg.cases.clone(), &cfg.data_dir, wiring.clock.clone()).await?,
        );
        let secret = |configured: &Option<String>, name: &str| -> Result<String, NodeError> {
            match configured {
                Some(s) => Ok(s.clone()),
                None => {
                    let (s, path) = secrets::load_or_create(&cfg.data_dir, name)?;
                    info!(path = %path.display(), "using a generated development secret");
                    Ok(s)
                }
            }
        };
        let api_key = secret(&cfg.api.key, "api-key")?;
        let webhook_secret = secret(&cfg.api.webhook_secret, "webhook-secret")?;
        // One secret signs join tokens and portal grants, shared by every node of a deployment.
        let cluster_secret = match &cfg.cluster.secret {
            Some(s) => s.clone(),
            None => secrets::load_or_create(&cfg.data_dir, "cluster-secret")?.0,
        };
        let signer = Arc::new(TokenSigner::new(cluster_secret.as_bytes()));

        let ttl = time::Duration::seconds(i64::try_from(cfg.api.call_ttl_secs).unwrap_or(i64::MAX));
        let media = if role.runs_media() {
            let media_metrics = vidid_server::MediaMetrics::register(&registry)?;
            let sink = Arc::new(
                vidid_recorder::LocalRecordingSink::new(&cfg.data_dir)
                    .map_err(|e| NodeError::Io {
                        what: "the recorder's directory",
                        source: std::io::Error::other(e),
                    })?
                    .with_outputs(vault.outputs()),
            );
            scrape_hooks.push(metrics::recorder_metrics(&registry, sink.stats())?);
            let server = vidid_server::MediaServer::start(
                cfg.media.clone(),
                cfg.http.listen.ip(),
                sink.clone(),
                media_metrics,
            )
            .await?;
            let rooms = Arc::new(Rooms::new(
                Arc::new(MemoryCallStore::default()),
                server,
                ttl,
            ));
            Some(MediaSide { rooms, sink })
        } else {
            None
        };
        let rooms = media.as_ref().map(|m| m.rooms.clone());

        let evidence = match wiring.evidence {
            Some(e) => e,
            None => Arc::new(library::VaultEvidence(vault.clone())),
        };
        let keys = Arc::new(
            vidid_vault::keys::FileKeys::open(cfg.vault.keys_dir(&cfg.data_dir))
                .map_err(|e| NodeError::Vault(e.into()))?,
        );
        let recordings = Recordings::new(
            wiring
                .recordings_reachable
                .then(|| Arc::new(library::VaultLibrary::new(&vault, keys)) as _),
        );

        let hub = Arc::new(Hub::default());
        hub.attach_bus(cases.clone());
        let attempts = Arc::new(Attempts::new(
            cases.clone(),
            hub,
            evidence.clone(),
            rooms.clone(),
        ));
        let agent = NodeAgent::new(node_settings(&cfg), &registry)?;
        let grace = Duration::from_secs(cfg.cases.queue.rejoin_grace_secs);
        let placement: Arc<dyn Placement> = match &rooms {
            Some(rooms) if role != NodeRole::Signaling => {
                Arc::new(LocalPlacement::new(rooms.clone(), attempts.clone(), grace))
            }
            _ => Arc::new(RegistryPlacement::new(
                cases.clone(),
                signer.clone(),
                agent.dead_after,
                ttl,
            )),
        };
        let control_metrics = ControlMetrics::register(&registry)?;
        let coordinator = Arc::new(Coordinator::new(
            attempts.clone(),
            placement,
            control_metrics.clone(),
        ));
        let queue_view = if role.runs_signaling() {
            QueueView::spawn(cases.clone())
        } else {
            QueueView::empty()
        };

        let mut background = vec![node::spawn_heartbeat(agent.clone(), attempts.clone())];
        if role.runs_signaling() {
            background.push(jobs::spawn_sweeper(cases.clone(), wiring.sweep_every));
            background.push(jobs::spawn_webhook_sender(
                cases.clone(),
                webhook_secret,
                wiring.webhook_every,
            ));
        }
        if role == NodeRole::Media
            && let Some(rooms) = &rooms
        {
            background.push(node::spawn_assignment_poller(
                agent.clone(),
                attempts.clone(),
                rooms.clone(),
                signer.clone(),
                grace,
            ));
        }
        if role == NodeRole::Signaling {
            background.push(node::spawn_recovery(agent.clone(), attempts.clone()));
        }

        let limiter = RateLimiter::new(cfg.http.rate_limit.clone())
            .map_err(|e| NodeError::Config(format!("invalid configuration: {e}")))?;
        let state = Arc::new(AppState {
            cases,
            coordinator,
            queue_view,
            evidence,
            recordings,
            grants: Grants::new(cluster_secret.as_bytes()),
            rooms,
            node: agent.clone(),
            api_key,
            turn: cfg.turn.clone(),
            limiter: Arc::new(limiter),
            metrics: SignalingMetrics::register(&registry)?,
            control_metrics,
            registry,
            scrape_hooks,
        });
        Ok(Node {
            cfg,
            state,
            attempts,
            agent,
            media,
            vault,
            background,
        })
    }

    /// What the handlers reach (tests read the cases and the rooms through it).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// The UDP address of the media loop (`None` on a signaling node).
    pub fn media_addr(&self) -> Option<SocketAddr> {
        self.media.as_ref().map(|m| m.rooms.media().local_addr())
    }

    /// Serves `listener` until `shutdown` completes, then drains (see the module docs);
    /// `force` (polled only after `shutdown`) ends the running calls at once.
    pub async fn run(
        self,
        listener: std::net::TcpListener,
        shutdown: impl Future<Output = ()>,
        force: impl Future<Output = ()>,
    ) -> Result<RunReport, NodeError> {
        listener
            .set_nonblocking(true)
            .map_err(NodeError::io("the http listener"))?;
        let role = self.agent.role;
        info!(
            http = %listener.local_addr().map_err(NodeError::io("the http listener"))?,
            tls = self.cfg.http.tls_cert.is_some(),
            role = role.as_str(),
            node = %self.agent.node_id,
            media_udp = ?self.media_addr(),
            data_dir = %self.cfg.data_dir.display(),
            "vidid serving"
        );
        let app = vidid_signaling::router(self.state.clone());
        let handle = axum_server::Handle::new();
        let make = app.into_make_service_with_connect_info::<SocketAddr>();
        let server = match (&self.cfg.http.tls_cert, &self.cfg.http.tls_key) {
            (Some(cert), Some(key)) => {
                let _ = rustls::crypto::ring::default_provider().install_default();
                let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                    .await
                    .map_err(|e| {
                        NodeError::Tls(format!(
                            "reading the TLS certificate {} and key {}: {e}",
                            cert.display(),
                            key.display()
                        ))
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

        shutdown.await;
        info!("shutdown requested");
        let report = self.drain(force).await;
        handle.graceful_shutdown(Some(Duration::from_secs(10)));
        match tokio::time::timeout(Duration::from_secs(12), server).await {
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "http server stopped with an error"),
            Err(_) => tracing::warn!("http connections did not close within 10 s"),
            _ => {}
        }
        self.agent.leave_registry(&self.attempts).await;
        if let Some(m) = &self.media
            && !m.sink.wait_idle(Duration::from_secs(10))
        {
            tracing::warn!("some recordings were still being written at exit");
        }
        let v = self.vault.clone();
        let _ = tokio::task::spawn_blocking(move || v.shutdown(Duration::from_secs(10))).await;
        info!(calls_ended = report.calls_ended, "stopped");
        Ok(report)
    }

    /// Not ready, no new calls; running calls finish within the grace (or `force`); the
    /// background stops; what still runs is ended so every recording is finished.
    async fn drain(&self, force: impl Future<Output = ()>) -> RunReport {
        self.agent.start_draining();
        self.agent.heartbeat_now(&self.attempts).await;
        let grace = Duration::from_secs(self.cfg.node.drain_grace_secs);
        if let Some(m) = &self.media {
            let running = m.rooms.running().await;
            if running > 0 && !grace.is_zero() {
                info!(
                    calls = running,
                    grace_secs = grace.as_secs(),
                    "draining: waiting for calls to finish (signal again to end them now)"
                );
                tokio::select! {
                    idle = m.rooms.wait_until_idle(grace) => if !idle {
                        tracing::warn!(grace_secs = grace.as_secs(), "drain grace period over: ending the remaining calls");
                    },
                    _ = force => info!("second signal: ending the calls now"),
                }
            }
        }
        for task in &self.background {
            task.abort();
        }
        let calls_ended = match &self.media {
            Some(m) => m.rooms.end_all("the server is shutting down").await.len(),
            None => 0,
        };
        RunReport { calls_ended }
    }
}

/// This process's place in the deployment, from the configuration.
fn node_settings(cfg: &Config) -> NodeSettings {
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
    NodeSettings {
        role: cfg.node.role,
        node_id,
        public_url,
        capacity: cfg
            .node
            .capacity
            .unwrap_or(u32::try_from(cfg.media.max_calls).unwrap_or(u32::MAX)),
        heartbeat: Duration::from_secs(cfg.node.heartbeat_secs),
    }
}
