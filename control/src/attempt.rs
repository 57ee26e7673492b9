//! The end of an identification attempt, wherever it is noticed: the agent's decision, the
//! ordering system's cancel, the call watcher's abort, a failed media node.
//!
//! The customer hears the result on their queue socket (through the [`Hub`]), the call room
//! closes if it is in this process, and a copy of the case's trail is sealed into the vault in
//! the background (the decision never waits on storage).

use std::sync::Arc;

use tracing::{info, warn};
use vidid_cases::{AbortReason, Actor, Case, CaseState, Cases, CasesError, Lang, SealedTrail};

use crate::evidence::{self, EvidenceStore};
use crate::hub::{CustomerMsg, Hub};
use crate::rooms::Rooms;

/// The call room (and recording) of a case's current attempt: `<case id>-<attempt>`.
pub fn call_id_of(case: &Case) -> String {
    format!("{}-{}", case.id, case.attempts)
}

/// Ends attempts; see the module docs.
pub struct Attempts {
    cases: Arc<Cases>,
    hub: Arc<Hub>,
    evidence: Arc<dyn EvidenceStore>,
    /// The rooms of this process (`None` on a signaling node: the media node's watcher ends
    /// the room when it sees the case leave the call).
    rooms: Option<Arc<Rooms>>,
}

impl Attempts {
    /// Ends attempts of `cases`, pushing through `hub` and sealing trails into `evidence`;
    /// `rooms` is `None` on a node that runs no media.
    pub fn new(
        cases: Arc<Cases>,
        hub: Arc<Hub>,
        evidence: Arc<dyn EvidenceStore>,
        rooms: Option<Arc<Rooms>>,
    ) -> Self {
        Attempts {
            cases,
            hub,
            evidence,
            rooms,
        }
    }

    /// The identification service whose cases these attempts belong to.
    pub fn cases(&self) -> &Arc<Cases> {
        &self.cases
    }

    /// The fan-out to the customers' queue sockets.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Where evidence images and sealed trails are stored.
    pub fn evidence(&self) -> &Arc<dyn EvidenceStore> {
        &self.evidence
    }

    /// The rooms of this process; `None` on a signaling node.
    pub fn rooms(&self) -> Option<&Arc<Rooms>> {
        self.rooms.as_ref()
    }

    /// After a case left the call (decided, aborted, cancelled): the customer hears the
    /// result, the room closes, the trail is sealed.
    pub async fn finished(&self, case: &Case) {
        let lang = case.customer.language;
        let message = match case.state {
            CaseState::Aborted => case
                .last_abort
                .map(|r| r.customer_message(lang).to_string()),
            _ => case.reason.clone(),
        };
        self.hub.clear(&case.id);
        self.hub.push(
            &case.id,
            CustomerMsg::Result {
                state: case.state.as_str().to_string(),
                redirect_url: if case.state == CaseState::Approved {
                    case.esign_url.clone()
                } else {
                    None
                },
                message,
                retries_left: case.retries_left(),
            },
        );
        if case.attempts > 0
            && let Some(rooms) = &self.rooms
        {
            rooms
                .end_quietly(&call_id_of(case), "the identification ended")
                .await;
        }
        // In the background: the decision does not wait for the storage round trip (or a
        // storage outage).
        let (cases, store, case_id) = (self.cases.clone(), self.evidence.clone(), case.id.clone());
        tokio::spawn(async move { seal_trail(&cases, store, &case_id).await });
    }

    /// The system gives up the attempt (`connection_lost`): a participant stayed away, or the
    /// call ended before a decision. A case that already left the call is left alone.
    pub async fn abort(&self, case_id: &str, note: &str) {
        let system = Actor::system("call-watch");
        match self
            .cases
            .abort(&system, case_id, AbortReason::ConnectionLost, note)
            .await
        {
            Ok(case) => {
                info!(case_id, note, "attempt aborted");
                self.finished(&case).await;
            }
            Err(CasesError::InvalidState { .. }) => {}
            Err(e) => warn!(case_id, error = %e, "aborting the attempt"),
        }
    }

    /// The media node of the call failed: the customer goes back to the head of the queue
    /// (the attempt does not count) and is told so.
    pub async fn requeue(&self, case_id: &str, note: &str) -> Result<Case, CasesError> {
        let case = self.cases.requeue_after_node_failure(case_id, note).await?;
        self.hub.clear(&case.id);
        let message = match case.customer.language {
            Lang::Sl => {
                "Povezava z video strežnikom je bila prekinjena. Ostajate na začetku čakalne vrste; svetovalec se vam bo kmalu pridružil."
            }
            Lang::En => {
                "The connection to the video server was lost. You keep your place at the head of the queue; an agent will be with you shortly."
            }
        };
        self.hub.push(
            &case.id,
            CustomerMsg::Requeued {
                message: message.into(),
            },
        );
        Ok(case)
    }
}

/// Seals a copy of the case's trail into the vault next to the recordings (WORM, the same
/// retention): the evidence trail outlives the database. A failure is logged; the next end of
/// an attempt seals again (each copy covers the whole trail up to then).
pub async fn seal_trail(cases: &Cases, store: Arc<dyn EvidenceStore>, case_id: &str) {
    let result = async {
        let (jsonl, head) = cases.trail_for_sealing(case_id).await?;
        let bytes = bytes::Bytes::from(jsonl);
        let len = bytes.len() as u64;
        let stored = evidence::put(store, case_id, "application/x-ndjson", bytes).await?;
        cases
            .record_trail_sealed(
                case_id,
                SealedTrail {
                    object_id: stored.object_id,
                    entries: head.len,
                    head_hash: head.hash,
                    sha256: stored.sha256,
                    bytes: len,
                    sealed_at: cases.now(),
                },
            )
            .await?;
        Ok::<_, crate::ControlError>(())
    }
    .await;
    if let Err(e) = result {
        warn!(case_id, error = %e, "sealing the audit trail into the vault");
    }
}
