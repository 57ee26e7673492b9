//! Interrupted attempts: what the customer is told, the abort itself, and the requeue after a
//! media node failed (which does not count as an attempt).

use time::OffsetDateTime;

use super::effects::{Effects, QueueOp};
use super::guards::{
    end_call, require_agent, require_customer, require_role, require_state, set_state,
};
use crate::CasesError;
use crate::audit::AuditEvent;
use crate::case::Case;
use crate::matching::Lang;
use crate::users::Actor;
use crate::vocabulary::{AbortReason, CaseState, Role};

impl AbortReason {
    /// What the customer is told. Suspicions are not named to the customer: they get the
    /// neutral message, so that an influencing third party learns nothing.
    pub fn customer_message(self, lang: Lang) -> &'static str {
        use AbortReason::*;
        match (self, lang) {
            (BadLight, Lang::Sl) => {
                "Identifikacijo smo prekinili, ker je bilo premalo svetlobe. Poiščite dobro osvetljen prostor in se ponovno uvrstite v vrsto."
            }
            (BadLight, Lang::En) => {
                "We stopped the identification because there was not enough light. Find a well-lit room and join the queue again."
            }
            (BadImage, Lang::Sl) => {
                "Identifikacijo smo prekinili, ker slika ni bila dovolj jasna. Preverite kamero in povezavo ter se ponovno uvrstite v vrsto."
            }
            (BadImage, Lang::En) => {
                "We stopped the identification because the picture was not clear enough. Check your camera and connection and join the queue again."
            }
            (BadSound, Lang::Sl) => {
                "Identifikacijo smo prekinili, ker se vas ni dobro slišalo. Poiščite tih prostor in se ponovno uvrstite v vrsto."
            }
            (BadSound, Lang::En) => {
                "We stopped the identification because we could not hear you well. Find a quiet room and join the queue again."
            }
            (ConnectionLost, Lang::Sl) => {
                "Povezava se je prekinila, zato identifikacije ni bilo mogoče dokončati. Ponovno se uvrstite v vrsto."
            }
            (ConnectionLost, Lang::En) => {
                "The connection was lost, so the identification could not be finished. Please join the queue again."
            }
            (CustomerLeft | CustomerRequest, Lang::Sl) => {
                "Identifikacijo ste prekinili. Kadar boste pripravljeni, se ponovno uvrstite v vrsto."
            }
            (CustomerLeft | CustomerRequest, Lang::En) => {
                "You ended the identification. Join the queue again when you are ready."
            }
            (AgentLeft | TechnicalProblem, Lang::Sl) => {
                "Zaradi tehnične težave na naši strani identifikacije ni bilo mogoče dokončati. Ponovno se uvrstite v vrsto."
            }
            (AgentLeft | TechnicalProblem, Lang::En) => {
                "A technical problem on our side stopped the identification. Please join the queue again."
            }
            (TanFailed, Lang::Sl) => {
                "Potrditvene kode ni bilo mogoče preveriti. Preverite, ali vaš telefon prejema SMS-sporočila, in se ponovno uvrstite v vrsto."
            }
            (TanFailed, Lang::En) => {
                "The verification code could not be confirmed. Check that your phone receives text messages and join the queue again."
            }
            (ThirdPartySuspected | OtherSuspicion, Lang::Sl) => {
                "Identifikacije ni bilo mogoče dokončati. Ponovno se lahko uvrstite v vrsto."
            }
            (ThirdPartySuspected | OtherSuspicion, Lang::En) => {
                "The identification could not be completed. You may join the queue again."
            }
        }
    }
}

/// Agent (any reason), system (any reason), or the customer (leaving or asking to stop):
/// interrupts the attempt.
pub(crate) fn abort(
    case: &mut Case,
    actor: &Actor,
    reason: AbortReason,
    note: &str,
    now: OffsetDateTime,
) -> Result<Effects, CasesError> {
    const ACTION: &str = "abort";
    match actor.role() {
        Role::System => {}
        Role::Customer => {
            require_customer(case, actor, ACTION)?;
            if !matches!(
                reason,
                AbortReason::CustomerLeft | AbortReason::CustomerRequest
            ) {
                return Err(CasesError::Forbidden {
                    role: Role::Customer,
                    action: "abort for that reason",
                });
            }
        }
        _ => require_agent(case, actor, ACTION, &[CaseState::InCall, CaseState::Checks])?,
    }
    require_state(case, &[CaseState::InCall, CaseState::Checks], ACTION)?;
    if note.chars().count() > 2000 {
        return Err(CasesError::invalid("note", "at most 2000 characters"));
    }
    let mut fx = Effects::default();
    fx.audit.push(AuditEvent::Aborted {
        reason,
        note: note.to_string(),
        attempt: case.attempts,
        retries_left: case.retries_left(),
    });
    set_state(case, CaseState::Aborted, &mut fx);
    case.last_abort = Some(reason);
    case.reason = Some(reason.as_str().to_string());
    end_call(case, &mut fx);
    if case.is_final() {
        case.decided_at = Some(now);
        fx.webhook = true;
    }
    Ok(fx)
}

/// System: the media node running the call failed. The attempt does not count against the
/// customer: they go back to the head of the queue with their old rejoin token, and the
/// attempt cap grows by one (attempt numbers keep increasing: they name the recordings).
pub(crate) fn requeue_front(
    case: &mut Case,
    actor: &Actor,
    note: &str,
) -> Result<Effects, CasesError> {
    const ACTION: &str = "put back in the queue";
    require_role(actor, Role::System, ACTION)?;
    require_state(case, &[CaseState::InCall, CaseState::Checks], ACTION)?;
    let mut fx = Effects::default();
    fx.audit.push(AuditEvent::Requeued {
        note: note.chars().take(500).collect(),
        attempt: case.attempts,
    });
    end_call(case, &mut fx);
    // A handling time of a failed node says nothing about agents' speed.
    fx.handled = None;
    case.max_attempts += 1;
    case.checklist.clear();
    case.tan = None;
    set_state(case, CaseState::Queued, &mut fx);
    fx.queue = Some(QueueOp::JoinFront {
        rejoin_hash: case.rejoin_hash.clone().unwrap_or_default(),
    });
    Ok(fx)
}
