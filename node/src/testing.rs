//! An in-process node on a loopback port, for tests of the adapters (feature
//! `test-support`): the same composition as `vidid serve`, in a temporary data directory,
//! with the configuration and the wiring a test asks for.
//!
//! ```no_run
//! # async fn demo() {
//! use vidid_node::testing::TestNode;
//! let node = TestNode::start(|cfg, _wiring, _dir| cfg.cases.queue.rejoin_grace_secs = 5).await;
//! let url = format!("http://{}/healthz", node.addr);
//! # let _ = url; }
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test support: a failed set-up stops the test that asked for it"
)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::oneshot;
use vidid_cases::Cases;
use vidid_signaling::AppState;

use crate::config::Config;
use crate::node::{Node, Wiring};

/// The API key of every test node.
pub const API_KEY: &str = "test-key";
/// The webhook secret of every test node.
pub const WEBHOOK_SECRET: &str = "webhook-test-secret";

/// A running node; stopped (and its directory removed) when dropped.
pub struct TestNode {
    /// Where its HTTP listener is.
    pub addr: SocketAddr,
    /// Its data directory.
    pub dir: tempfile::TempDir,
    /// What its handlers reach.
    pub state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
}

impl TestNode {
    /// Builds and runs a node of `--role all` on `127.0.0.1:0`; `configure` may change the
    /// configuration and the wiring (it is given the data directory).
    pub async fn start(configure: impl FnOnce(&mut Config, &mut Wiring, &Path)) -> TestNode {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut cfg = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        cfg.http.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        cfg.api.key = Some(API_KEY.into());
        cfg.api.webhook_secret = Some(WEBHOOK_SECRET.into());
        cfg.node.drain_grace_secs = 0;
        let mut wiring = Wiring::default();
        configure(&mut cfg, &mut wiring, dir.path());
        let node = Node::build(cfg, wiring)
            .await
            .expect("the test node builds");
        let state = node.state().clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().expect("the listener's address");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = node.run(listener, shutdown, std::future::pending()).await {
                tracing::warn!(error = %e, "test node stopped with an error");
            }
        });
        TestNode {
            addr,
            dir,
            state,
            stop: Some(stop),
        }
    }

    /// The domain of this node.
    pub fn cases(&self) -> &Arc<Cases> {
        &self.state.cases
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
