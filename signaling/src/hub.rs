//! Messages pushed to a customer's queue socket (`/ws/queue`), from whichever request caused
//! them (an agent taking the customer, an instruction, the result).

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::broadcast;

/// What the server sends on `/ws/queue` (docs/signaling.md).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CustomerMsg {
    /// The place in the queue; sent on joining and whenever the queue changes.
    Queue {
        position: u32,
        estimated_wait_secs: Option<u64>,
    },
    /// An agent took the customer: join the call on `/ws` with this token.
    CallReady {
        call_id: String,
        token: String,
    },
    /// A message from the agent, shown to the customer.
    Instruction {
        text: String,
    },
    /// The end of this attempt or of the case.
    Result {
        state: String,
        /// Approved: where the customer goes next (e-signing).
        redirect_url: Option<String>,
        message: Option<String>,
        retries_left: u32,
    },
    Pong,
    Error {
        code: &'static str,
        message: String,
        fatal: bool,
    },
}

/// One message for one case.
#[derive(Debug, Clone)]
pub struct Push {
    pub case_id: String,
    pub msg: CustomerMsg,
}

/// The in-process fan-out to queue sockets, and the call tokens not yet picked up.
///
/// TODO(scale-out): with several processes on PostgreSQL the socket may be on another process
/// than the agent's request; that needs the store's notifications (LISTEN/NOTIFY) to carry
/// these pushes. In one process this is complete.
pub struct Hub {
    tx: broadcast::Sender<Push>,
    pending: Mutex<HashMap<String, CustomerMsg>>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            tx: broadcast::channel(1024).0,
            pending: Mutex::new(HashMap::new()),
        }
    }
}

impl Hub {
    pub fn subscribe(&self) -> broadcast::Receiver<Push> {
        self.tx.subscribe()
    }

    /// Sends to the case's socket(s), if any are open.
    pub fn push(&self, case_id: &str, msg: CustomerMsg) {
        let _ = self.tx.send(Push {
            case_id: case_id.to_string(),
            msg,
        });
    }

    /// A call token for the customer: pushed now and kept until the call ends, so a socket
    /// that (re)connects later still gets it.
    pub fn call_ready(&self, case_id: &str, call_id: &str, token: &str) {
        let msg = CustomerMsg::CallReady {
            call_id: call_id.to_string(),
            token: token.to_string(),
        };
        self.lock().insert(case_id.to_string(), msg.clone());
        self.push(case_id, msg);
    }

    pub fn pending(&self, case_id: &str) -> Option<CustomerMsg> {
        self.lock().get(case_id).cloned()
    }

    pub fn clear(&self, case_id: &str) {
        self.lock().remove(case_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CustomerMsg>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}
