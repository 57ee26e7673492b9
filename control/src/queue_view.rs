//! The queue as the customers' sockets see it: one snapshot per process, refreshed once per
//! burst of queue changes and shared by every socket (`tokio::sync::watch`).
//!
//! Without it each socket re-read the whole queue on every change: with N customers waiting
//! and N changes that is N² rows read (10 000 waiting made the server spend minutes per
//! take). Now a change costs one read of the queue, and each socket looks up its own place.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tracing::warn;
use vidid_cases::Cases;

/// Every waiting customer's place: case id → (position, estimated wait in seconds).
#[derive(Debug, Default, PartialEq)]
pub struct Snapshot {
    /// Case id → (position, 1 = next; estimated wait in seconds, `None` while no agent is on
    /// duty).
    pub places: HashMap<String, (u32, Option<u64>)>,
}

/// Changes closer together than this share one refresh.
const COALESCE: Duration = Duration::from_millis(50);
/// Estimates drift with time even without changes (e.g. agents' handling times).
const IDLE_REFRESH: Duration = Duration::from_secs(10);

/// The shared snapshot; clone the receiver per socket.
#[derive(Clone)]
pub struct QueueView {
    rx: watch::Receiver<Arc<Snapshot>>,
    /// The sender of an [`QueueView::empty`] view.
    _idle: Option<Arc<watch::Sender<Arc<Snapshot>>>>,
}

impl QueueView {
    /// Starts the refresher (inside a tokio runtime).
    pub fn spawn(cases: Arc<Cases>) -> QueueView {
        let (tx, rx) = watch::channel(Arc::new(Snapshot::default()));
        let mut events = cases.queue_events();
        tokio::spawn(async move {
            loop {
                refresh(&cases, &tx).await;
                if tx.is_closed() {
                    break;
                }
                match tokio::time::timeout(IDLE_REFRESH, events.recv()).await {
                    Ok(Err(broadcast::error::RecvError::Closed)) => break,
                    Ok(_) => {
                        tokio::time::sleep(COALESCE).await;
                        while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) =
                            events.try_recv()
                        {}
                    }
                    Err(_) => {}
                }
            }
        });
        QueueView { rx, _idle: None }
    }

    /// A view that never changes, for a node where no customer waits (a media node).
    pub fn empty() -> QueueView {
        let (tx, rx) = watch::channel(Arc::new(Snapshot::default()));
        // Kept with the view: receivers see no change, never a close.
        QueueView {
            rx,
            _idle: Some(Arc::new(tx)),
        }
    }

    /// A receiver of the snapshot, for one socket.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.rx.clone()
    }
}

async fn refresh(cases: &Cases, tx: &watch::Sender<Arc<Snapshot>>) {
    match cases.queue_snapshot().await {
        Ok(places) => {
            let snap = Snapshot {
                places: places
                    .into_iter()
                    .map(|p| (p.case_id, (p.position, p.estimated_wait_secs)))
                    .collect(),
            };
            // Unchanged (an idle refresh): no socket is woken.
            tx.send_if_modified(|cur| {
                if **cur == snap {
                    false
                } else {
                    *cur = Arc::new(snap);
                    true
                }
            });
        }
        Err(e) => warn!(error = %e, "reading the queue for the customers' sockets"),
    }
}
