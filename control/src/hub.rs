//! Messages pushed to a customer's queue socket (`/ws/queue`), from whichever request caused
//! them (an agent taking the customer, an instruction, the result, a failed media node).
//!
//! Pushes travel on the case store's bus ([`vidid_cases::Cases::publish`]): with several
//! vidid processes on PostgreSQL the socket may be on another process than the request that
//! caused the push; `NOTIFY` carries it there. On SQLite the bus is in-process. Every process
//! keeps the call token and the latest instruction of each case in a call ("pending"), so a
//! socket that (re)connects to any process gets them again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::broadcast;
use vidid_cases::Cases;
use vidid_cases::cluster::BusMsg;

/// What the server sends on `/ws/queue` (docs/signaling.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CustomerMsg {
    /// The place in the queue; sent on joining and whenever the queue changes.
    Queue {
        /// The place in the queue; 1 is next.
        position: u32,
        /// The estimated wait in seconds; `None` while no agent is on duty.
        estimated_wait_secs: Option<u64>,
    },
    /// An agent took the customer: join the call on `/ws` with this token.
    CallReady {
        /// The call room to join.
        call_id: String,
        /// The customer's join token for `/ws`.
        token: String,
        /// Where to join the call (`<media_url>/ws`): the media node the call was placed on;
        /// absent when it is this server.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_url: Option<String>,
    },
    /// A message from the agent, shown to the customer.
    Instruction {
        /// The agent's words (1 to 500 printable characters, trimmed).
        text: String,
    },
    /// The end of this attempt or of the case.
    Result {
        /// How it ended: `approved`, `rejected`, `aborted` or `cancelled`.
        state: String,
        /// Approved: where the customer goes next (e-signing).
        redirect_url: Option<String>,
        /// Why, for the customer: an abort's reason in the customer's language, else the
        /// case's reason if it has one.
        message: Option<String>,
        /// Attempts the customer has left.
        retries_left: u32,
    },
    /// The video server of the call failed: the customer is back at the head of the queue
    /// (`queue` messages follow) and the attempt does not count.
    Requeued {
        /// What happened, in the customer's language.
        message: String,
    },
    /// The answer to a `ping`.
    Pong,
    /// The socket's message was refused, or the case cannot be queued on it.
    Error {
        /// The stable machine-readable code (`docs/signaling.md`).
        code: String,
        /// What went wrong, for a human.
        message: String,
        /// Whether the server closes the socket after this.
        fatal: bool,
    },
}

/// One message for one case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Push {
    /// The case whose queue socket(s) get the message.
    pub case_id: String,
    /// The message itself.
    pub msg: CustomerMsg,
}

const TOPIC_PUSH: &str = "customer_push";
const TOPIC_CLEAR: &str = "customer_clear";

/// The fan-out to queue sockets, and the call tokens not yet picked up (see the module docs).
pub struct Hub {
    tx: broadcast::Sender<Push>,
    /// Per case in a call: its `call_ready` and the agent's latest instruction.
    pending: Mutex<HashMap<String, Vec<CustomerMsg>>>,
    /// Open queue sockets per case in this process.
    sockets: Mutex<HashMap<String, usize>>,
    /// To the publisher task (keeps pushes in order); `None`: in-process only.
    out: Mutex<Option<tokio::sync::mpsc::UnboundedSender<BusMsg>>>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            tx: broadcast::channel(1024).0,
            pending: Mutex::new(HashMap::new()),
            sockets: Mutex::new(HashMap::new()),
            out: Mutex::new(None),
        }
    }
}

impl Hub {
    /// Sends pushes over the store's bus and delivers what arrives on it (from this process
    /// and others) to this process's sockets. Call once, inside a tokio runtime.
    pub fn attach_bus(self: &Arc<Self>, cases: Arc<Cases>) {
        let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<BusMsg>();
        let mut inbox = cases.bus();
        *self.out.lock().unwrap_or_else(|e| e.into_inner()) = Some(out_tx);
        let publisher = cases;
        tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                if let Err(e) = publisher.publish(&m).await {
                    tracing::warn!(error = %e, topic = %m.topic, "bus publish failed");
                }
            }
        });
        let hub = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let m = match inbox.recv().await {
                    Ok(m) => m,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "bus receiver lagged");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                let Some(hub) = hub.upgrade() else { break };
                hub.receive(&m);
            }
        });
    }

    fn receive(&self, m: &BusMsg) {
        match m.topic.as_str() {
            TOPIC_PUSH => match serde_json::from_value::<Push>(m.payload.clone()) {
                Ok(p) => self.deliver(p),
                Err(e) => tracing::debug!(error = %e, "ignoring a malformed push"),
            },
            TOPIC_CLEAR => {
                if let Some(id) = m.payload["case_id"].as_str() {
                    self.lock().remove(id);
                }
            }
            _ => {}
        }
    }

    fn deliver(&self, p: Push) {
        match &p.msg {
            CustomerMsg::CallReady { .. } => {
                self.lock().insert(p.case_id.clone(), vec![p.msg.clone()]);
            }
            CustomerMsg::Instruction { .. } => {
                if let Some(v) = self.lock().get_mut(&p.case_id) {
                    v.retain(|m| !matches!(m, CustomerMsg::Instruction { .. }));
                    v.push(p.msg.clone());
                }
            }
            _ => {}
        }
        let _ = self.tx.send(p);
    }

    /// Hands a message to the bus; `false` when there is none (deliver locally).
    fn send_bus(&self, topic: &str, payload: serde_json::Value) -> bool {
        let g = self.out.lock().unwrap_or_else(|e| e.into_inner());
        match g.as_ref() {
            Some(tx) => tx
                .send(BusMsg {
                    topic: topic.to_string(),
                    payload,
                })
                .is_ok(),
            None => false,
        }
    }

    /// Every push delivered to this process, for a queue socket to pick its case's out of.
    pub fn subscribe(&self) -> broadcast::Receiver<Push> {
        self.tx.subscribe()
    }

    /// Sends to the case's socket(s), wherever they are open.
    pub fn push(&self, case_id: &str, msg: CustomerMsg) {
        let p = Push {
            case_id: case_id.to_string(),
            msg,
        };
        let payload = serde_json::to_value(&p).unwrap_or_default();
        if !self.send_bus(TOPIC_PUSH, payload) {
            self.deliver(p);
        }
    }

    /// A call token for the customer: pushed now and kept until the call ends, so a socket
    /// that (re)connects later still gets it.
    pub fn call_ready(&self, case_id: &str, call_id: &str, token: &str, media_url: Option<&str>) {
        let msg = CustomerMsg::CallReady {
            call_id: call_id.to_string(),
            token: token.to_string(),
            media_url: media_url.map(str::to_string),
        };
        self.push(case_id, msg);
    }

    /// What a (re)connecting socket of a case in a call must hear again: the call token and
    /// the agent's latest instruction.
    pub fn pending(&self, case_id: &str) -> Vec<CustomerMsg> {
        self.lock().get(case_id).cloned().unwrap_or_default()
    }

    /// A queue socket of the case opened in this process.
    pub fn socket_opened(&self, case_id: &str) {
        *self
            .sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(case_id.to_string())
            .or_default() += 1;
    }

    /// A queue socket of the case closed; true when it was the case's last one here (only
    /// then is the customer disconnected: a reload's new socket may already be attached).
    pub fn socket_closed(&self, case_id: &str) -> bool {
        let mut g = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        match g.get_mut(case_id) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            _ => {
                g.remove(case_id);
                true
            }
        }
    }

    /// Forgets the case's call token everywhere.
    pub fn clear(&self, case_id: &str) {
        self.lock().remove(case_id);
        self.send_bus(TOPIC_CLEAR, json!({ "case_id": case_id }));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<CustomerMsg>>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}
