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
    pub case: Case,
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

    pub fn cases(&self) -> &Arc<Cases> {
        &self.cases
    }

    pub fn hub(&self) -> &Arc<Hub> {
        self.attempts.hub()
    }

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
