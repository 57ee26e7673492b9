//! The call coordinator: an agent takes the next customer into a call, the attempt runs, and
//! its end (decision, cancel, abort) reaches the customer, the room and the evidence.
//!
//! Every rule is checked by [`vidid_cases::Cases`]; the coordinator adds what happens around
//! the rule: where the call runs ([`Placement`]), what the customer is pushed ([`Hub`]), and
//! the end of the attempt ([`Attempts`]).

use std::sync::Arc;

use tracing::{info, warn};
use vidid_cases::{AbortReason, Actor, Case, CaseState, Cases, CasesError, Question};

use crate::attempt::Attempts;
use crate::hub::{CustomerMsg, Hub};
use crate::metrics::ControlMetrics;
use crate::placement::{PlacedCall, Placement};
use crate::{ControlError, Result};

/// A customer taken into a call.
#[derive(Debug, Clone)]
pub struct Taken {
    /// The case, now in the call.
    pub case: Case,
    /// Where its call runs, with both join tokens.
    pub call: PlacedCall,
}

/// See the module docs.
pub struct Coordinator {
    cases: Arc<Cases>,
    attempts: Arc<Attempts>,
    placement: Arc<dyn Placement>,
    metrics: ControlMetrics,
}

impl Coordinator {
    /// A coordinator that ends attempts through `attempts` and places calls with `placement`.
    pub fn new(
        attempts: Arc<Attempts>,
        placement: Arc<dyn Placement>,
        metrics: ControlMetrics,
    ) -> Self {
        Coordinator {
            cases: attempts.cases().clone(),
            attempts,
            placement,
            metrics,
        }
    }

    /// The identification service the coordinator acts on.
    pub fn cases(&self) -> &Arc<Cases> {
        &self.cases
    }

    /// The fan-out to the customers' queue sockets.
    pub fn hub(&self) -> &Arc<Hub> {
        self.attempts.hub()
    }

    /// What ends attempts (result push, room end, sealed trail).
    pub fn attempts(&self) -> &Arc<Attempts> {
        &self.attempts
    }

    /// The prepared questions the agent goes through.
    pub fn questions(&self) -> &[Question] {
        &self.cases.config().identification.questions
    }

    /// The next connected customer → a call room where the placement puts it; the customer's
    /// token is pushed on their queue socket. `None` when nobody waits. When no room can be
    /// had, nobody is taken out of the queue (or the taken customer goes back to its head, the
    /// attempt not counted).
    pub async fn take(&self, agent: &Actor) -> Result<Option<Taken>> {
        if !self.placement.available().await {
            return Err(ControlError::NoMediaNode);
        }
        let Some(case) = self.cases.take_next(agent).await? else {
            return Ok(None);
        };
        let call = match self.placement.place(&case).await {
            Ok(call) => call,
            Err(e) => {
                warn!(case_id = %case.id, error = %e, "no room for the call");
                if let Err(e) = self
                    .cases
                    .requeue_after_node_failure(&case.id, &e.to_string())
                    .await
                {
                    warn!(case_id = %case.id, error = %e, "giving the customer back their place");
                }
                return Err(ControlError::NoMediaNode);
            }
        };
        self.hub().call_ready(
            &case.id,
            &call.call_id,
            &call.customer_token,
            call.media_url.as_deref(),
        );
        info!(case_id = %case.id, call_id = %call.call_id, "agent took a customer");
        self.metrics.observe_taken(&self.cases, &case);
        Ok(Some(Taken { case, call }))
    }

    /// A message from the call's agent, shown to the customer.
    pub async fn instruct(&self, agent: &Actor, case_id: &str, text: &str) -> Result<()> {
        let text = text.trim();
        if text.is_empty() || text.chars().count() > 500 || text.chars().any(char::is_control) {
            return Err(CasesError::invalid("text", "1 to 500 printable characters").into());
        }
        let case = self.cases.case(agent, case_id).await?;
        if !matches!(case.state, CaseState::InCall | CaseState::Checks) {
            return Err(CasesError::InvalidState {
                state: case.state,
                action: "send an instruction",
            }
            .into());
        }
        if case.agent_id.as_deref() != Some(agent.id()) {
            return Err(CasesError::NotAssigned.into());
        }
        self.hub().push(
            case_id,
            CustomerMsg::Instruction {
                text: text.to_string(),
            },
        );
        Ok(())
    }

    /// The agent approves.
    pub async fn approve(&self, agent: &Actor, case_id: &str) -> Result<Case> {
        let case = self.cases.approve(agent, case_id).await?;
        self.attempts.finished(&case).await;
        Ok(case)
    }

    /// The agent rejects, with a reason.
    pub async fn reject(&self, agent: &Actor, case_id: &str, reason: &str) -> Result<Case> {
        let case = self.cases.reject(agent, case_id, reason).await?;
        self.attempts.finished(&case).await;
        Ok(case)
    }

    /// The agent aborts the attempt (bad light, sound, suspicion…).
    pub async fn abort(
        &self,
        agent: &Actor,
        case_id: &str,
        reason: AbortReason,
        note: &str,
    ) -> Result<Case> {
        let case = self.cases.abort(agent, case_id, reason, note).await?;
        self.attempts.finished(&case).await;
        Ok(case)
    }

    /// The ordering system cancels the case.
    pub async fn cancel(&self, ordering: &Actor, case_id: &str, reason: &str) -> Result<Case> {
        let case = self.cases.cancel(ordering, case_id, reason).await?;
        self.attempts.finished(&case).await;
        Ok(case)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use async_trait::async_trait;
    use time::OffsetDateTime;
    use time::macros::{date, datetime};
    use vidid_cases::{
        ConfirmedData, Document, DocumentKind, DocumentPhoto, Lang, NewCase, OutboxSms, Role,
        TestClock,
    };

    use super::*;
    use crate::evidence::FsEvidenceStore;
    use crate::hub::Push;

    /// Thursday 15 January 2026, 11:00 in Ljubljana: open.
    const OPEN: OffsetDateTime = datetime!(2026-01-15 11:00 +1);
    const PW: &str = "a long enough password";

    /// The third implementation of the seam: says what it is told and records what it placed.
    #[derive(Default)]
    struct FakePlacement {
        unavailable: bool,
        fail: bool,
        placed: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl Placement for FakePlacement {
        async fn available(&self) -> bool {
            !self.unavailable
        }

        async fn place(&self, case: &Case) -> Result<PlacedCall> {
            if self.fail {
                return Err(ControlError::NoMediaNode);
            }
            let call_id = crate::call_id_of(case);
            self.placed.lock().unwrap().push(call_id.clone());
            Ok(PlacedCall {
                call_id,
                customer_token: "customer-token".into(),
                agent_token: "agent-token".into(),
                media_url: Some("https://media-1.example".into()),
            })
        }
    }

    struct World {
        coordinator: Coordinator,
        cases: Arc<Cases>,
        placement: Arc<FakePlacement>,
        _dir: tempfile::TempDir,
    }

    async fn world(placement: FakePlacement) -> World {
        let dir = tempfile::tempdir().unwrap();
        let store = vidid_cases::store::open(&Default::default(), dir.path())
            .await
            .unwrap();
        let cases = Arc::new(
            Cases::new(
                Default::default(),
                store,
                Arc::new(TestClock::new(OPEN)),
                Arc::new(OutboxSms::new(dir.path())),
            )
            .unwrap(),
        );
        let hub = Arc::new(Hub::default());
        let evidence = Arc::new(FsEvidenceStore::new(dir.path()));
        let attempts = Arc::new(Attempts::new(cases.clone(), hub, evidence, None));
        let placement = Arc::new(placement);
        let metrics = ControlMetrics::register(&prometheus::Registry::new()).unwrap();
        World {
            coordinator: Coordinator::new(attempts, placement.clone(), metrics),
            cases,
            placement,
            _dir: dir,
        }
    }

    async fn agent(cases: &Cases, name: &str) -> Actor {
        cases.add_user(name, Role::Agent, PW).await.unwrap();
        let login = cases.login(name, PW).await.unwrap();
        let user = cases.authenticate(&login.token).await.unwrap();
        let actor = Actor::staff(&user);
        cases
            .set_availability(&actor, vidid_cases::AgentStatus::Available)
            .await
            .unwrap();
        actor
    }

    /// A customer who prepared the case and waits in the queue; returns the case id.
    async fn queued(cases: &Cases, n: u32) -> String {
        let document = Document {
            kind: DocumentKind::IdCard,
            country: "SI".into(),
            number: "IB1234567".into(),
        };
        let new = NewCase {
            name: "Janez Novak".into(),
            date_of_birth: date!(1990 - 05 - 17),
            document: document.clone(),
            phone: "+38641123456".into(),
            email: "janez@example.com".into(),
            contract_ref: format!("MOB-{n}"),
            language: Lang::En,
            callback_url: None,
            esign_url: Some("https://sign.example/c/1".into()),
        };
        let link = cases
            .create_case(&Actor::ordering_system(), &new, None)
            .await
            .unwrap();
        let (customer, case) = cases.customer(&link.token).await.unwrap();
        let photo = DocumentPhoto {
            object_id: "ev_1".into(),
            content_type: "image/jpeg".into(),
            bytes: 1000,
            sha256: "ab".repeat(32),
            uploaded_at: OPEN,
        };
        cases
            .upload_photo(&customer, &case.id, photo)
            .await
            .unwrap();
        let data = ConfirmedData {
            name: "Janez Novak".into(),
            date_of_birth: date!(1990 - 05 - 17),
            document,
        };
        cases
            .confirm_data(&customer, &case.id, &data)
            .await
            .unwrap();
        cases.join_queue(&customer, &case.id).await.unwrap();
        case.id
    }

    async fn next_push(rx: &mut tokio::sync::broadcast::Receiver<Push>) -> Push {
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("a push within 5 s")
            .unwrap()
    }

    #[tokio::test]
    async fn nobody_waiting_takes_nobody_and_places_nothing() {
        let w = world(FakePlacement::default()).await;
        let ana = agent(&w.cases, "ana").await;
        assert!(w.coordinator.take(&ana).await.unwrap().is_none());
        assert!(w.placement.placed.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_taken_customer_is_pushed_the_placed_call_and_its_media_node() {
        let w = world(FakePlacement::default()).await;
        let ana = agent(&w.cases, "ana").await;
        let id = queued(&w.cases, 1).await;
        let mut rx = w.coordinator.hub().subscribe();
        let taken = w.coordinator.take(&ana).await.unwrap().unwrap();
        assert_eq!(taken.case.id, id);
        assert_eq!(taken.case.state, CaseState::InCall);
        assert_eq!(taken.call.call_id, format!("{id}-1"));
        let push = next_push(&mut rx).await;
        assert_eq!(push.case_id, id);
        assert_eq!(
            push.msg,
            CustomerMsg::CallReady {
                call_id: format!("{id}-1"),
                token: "customer-token".into(),
                media_url: Some("https://media-1.example".into()),
            }
        );
        assert_eq!(
            w.coordinator.hub().pending(&id),
            vec![push.msg],
            "kept for a reconnect"
        );
    }

    #[tokio::test]
    async fn no_room_anywhere_takes_nobody_out_of_the_queue() {
        let w = world(FakePlacement {
            unavailable: true,
            ..Default::default()
        })
        .await;
        let ana = agent(&w.cases, "ana").await;
        let id = queued(&w.cases, 1).await;
        let e = w.coordinator.take(&ana).await.unwrap_err();
        assert_eq!(e.code(), "media_unavailable");
        let case = w.cases.peek_case(&id).await.unwrap().unwrap();
        assert_eq!((case.state, case.attempts), (CaseState::Queued, 0));
    }

    #[tokio::test]
    async fn a_failed_placement_gives_the_customer_back_the_head_of_the_queue_uncounted() {
        let w = world(FakePlacement {
            fail: true,
            ..Default::default()
        })
        .await;
        let ana = agent(&w.cases, "ana").await;
        let first = queued(&w.cases, 1).await;
        let _second = queued(&w.cases, 2).await;
        let before = w.cases.peek_case(&first).await.unwrap().unwrap();
        let e = w.coordinator.take(&ana).await.unwrap_err();
        assert_eq!(e.code(), "media_unavailable");
        let case = w.cases.peek_case(&first).await.unwrap().unwrap();
        assert_eq!(case.state, CaseState::Queued);
        assert_eq!(
            case.retries_left(),
            before.retries_left(),
            "the attempt does not count"
        );
        let place = w.cases.queue_place(&first).await.unwrap().unwrap();
        assert_eq!(place.position, 1, "still first in line");
    }

    #[tokio::test]
    async fn only_the_calls_agent_instructs_and_only_printable_text_up_to_500_characters() {
        let w = world(FakePlacement::default()).await;
        let ana = agent(&w.cases, "ana").await;
        let bor = agent(&w.cases, "bor").await;
        let id = queued(&w.cases, 1).await;
        w.coordinator.take(&ana).await.unwrap().unwrap();
        let mut rx = w.coordinator.hub().subscribe();
        let e = w
            .coordinator
            .instruct(&bor, &id, "hello")
            .await
            .unwrap_err();
        assert_eq!(e.code(), "not_assigned");
        for bad in ["", "   ", "bell\u{7}", &"x".repeat(501)] {
            let e = w.coordinator.instruct(&ana, &id, bad).await.unwrap_err();
            assert_eq!(e.code(), "invalid_input", "{bad:?}");
        }
        w.coordinator
            .instruct(&ana, &id, "  Please hold the card closer.  ")
            .await
            .unwrap();
        let push = next_push(&mut rx).await;
        assert_eq!(
            push.msg,
            CustomerMsg::Instruction {
                text: "Please hold the card closer.".into()
            }
        );
    }

    #[tokio::test]
    async fn an_abort_tells_the_customer_and_seals_the_trail_into_the_evidence_store() {
        let w = world(FakePlacement::default()).await;
        let ana = agent(&w.cases, "ana").await;
        let id = queued(&w.cases, 1).await;
        w.coordinator.take(&ana).await.unwrap().unwrap();
        let mut rx = w.coordinator.hub().subscribe();
        let case = w
            .coordinator
            .abort(&ana, &id, AbortReason::BadLight, "dark room")
            .await
            .unwrap();
        assert_eq!(case.state, CaseState::Aborted);
        let push = next_push(&mut rx).await;
        let CustomerMsg::Result {
            state,
            retries_left,
            message,
            ..
        } = push.msg
        else {
            panic!("a result, not {:?}", push.msg);
        };
        assert_eq!(state, "aborted");
        assert_eq!(retries_left, case.retries_left());
        assert_eq!(
            message.as_deref(),
            Some(AbortReason::BadLight.customer_message(Lang::En))
        );
        assert!(
            w.coordinator.hub().pending(&id).is_empty(),
            "the call token is forgotten"
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let c = w.cases.peek_case(&id).await.unwrap().unwrap();
            if let Some(t) = c.sealed_trails.last() {
                assert_eq!(
                    t.entries,
                    c.audit.len - 1,
                    "everything up to the seal itself"
                );
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "sealed within 5 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
