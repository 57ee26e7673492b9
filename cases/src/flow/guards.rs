//! The checks every transition is made of: who may act, in which state, with a valid link;
//! and the state change that writes its own audit entry.

use time::OffsetDateTime;

use super::effects::Effects;
use crate::CasesError;
use crate::audit::AuditEvent;
use crate::case::Case;
use crate::users::Actor;
use crate::vocabulary::{CaseState, Permission, Role};

pub(super) fn set_state(case: &mut Case, to: CaseState, fx: &mut Effects) {
    if case.state != to {
        fx.audit.push(AuditEvent::StateChanged {
            from: case.state,
            to,
        });
        case.state = to;
    }
}

pub(super) fn require_state(
    case: &Case,
    allowed: &[CaseState],
    action: &'static str,
) -> Result<(), CasesError> {
    if allowed.contains(&case.state) {
        Ok(())
    } else {
        Err(CasesError::InvalidState {
            state: case.state,
            action,
        })
    }
}

pub(super) fn require_customer(
    case: &Case,
    actor: &Actor,
    action: &'static str,
) -> Result<(), CasesError> {
    if actor.role() != Role::Customer {
        return Err(CasesError::Forbidden {
            role: actor.role(),
            action,
        });
    }
    if actor.id() != case.id {
        return Err(CasesError::NotFound("case"));
    }
    Ok(())
}

/// The agent handling this case, in one of `states`: role first, then state, then assignment
/// (so an agent asking too early hears about the state, not about somebody else's case).
pub(super) fn require_agent(
    case: &Case,
    actor: &Actor,
    action: &'static str,
    states: &[CaseState],
) -> Result<(), CasesError> {
    if actor.require(Permission::TakeCalls).is_err() {
        return Err(CasesError::Forbidden {
            role: actor.role(),
            action,
        });
    }
    require_state(case, states, action)?;
    if case.agent_id.as_deref() != Some(actor.id()) {
        return Err(CasesError::NotAssigned);
    }
    Ok(())
}

pub(super) fn require_role(
    actor: &Actor,
    role: Role,
    action: &'static str,
) -> Result<(), CasesError> {
    if actor.role() == role {
        Ok(())
    } else {
        Err(CasesError::Forbidden {
            role: actor.role(),
            action,
        })
    }
}

pub(super) const BEFORE_QUEUE: [CaseState; 3] =
    [CaseState::Created, CaseState::Prepared, CaseState::Aborted];

pub(super) fn mark_prepared(case: &mut Case, fx: &mut Effects) {
    if case.state == CaseState::Created && case.photo.is_some() && case.data_confirmed_at.is_some()
    {
        set_state(case, CaseState::Prepared, fx);
    }
}

pub(super) fn link_valid(case: &Case, now: OffsetDateTime) -> Result<(), CasesError> {
    if now >= case.expires_at {
        Err(CasesError::LinkExpired(case.expires_at))
    } else {
        Ok(())
    }
}

pub(super) fn not_final(case: &Case, action: &'static str) -> Result<(), CasesError> {
    if case.is_final() {
        Err(CasesError::InvalidState {
            state: case.state,
            action,
        })
    } else {
        Ok(())
    }
}

pub(super) fn end_call(case: &mut Case, fx: &mut Effects) {
    if let (Some(agent), Some(start)) = (case.agent_id.clone(), case.call_started_at) {
        fx.agent_freed = Some(agent.clone());
        fx.handled = Some((agent, start));
    }
}
