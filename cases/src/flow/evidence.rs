//! Evidence during and after the call: logged accesses, snapshots, the agent's look at the ID
//! photo, and the sealed copies of the trail.

use super::effects::Effects;
use super::guards::{require_agent, require_role};
use crate::CasesError;
use crate::audit::AuditEvent;
use crate::case::{Case, SealedTrail, Snapshot};
use crate::users::Actor;
use crate::vocabulary::{CaseState, EvidenceAccess, Role};

/// Staff: an access to the recording or evidence, logged before it is granted.
pub(crate) fn access_evidence(
    actor: &Actor,
    recording_id: Option<&str>,
    access: EvidenceAccess,
    purpose: Option<&str>,
) -> Result<Effects, CasesError> {
    actor.require(access.permission())?;
    let purpose = match purpose.map(|p| p.split_whitespace().collect::<Vec<_>>().join(" ")) {
        Some(p) if p.chars().count() < 10 || p.chars().count() > 500 => {
            return Err(CasesError::invalid(
                "purpose",
                "state the purpose in 10 to 500 characters",
            ));
        }
        p => p,
    };
    if recording_id
        .is_some_and(|r| r.is_empty() || r.len() > 200 || r.chars().any(char::is_control))
    {
        return Err(CasesError::invalid(
            "recording_id",
            "1 to 200 printable characters",
        ));
    }
    let mut fx = Effects::default();
    fx.audit.push(AuditEvent::EvidenceAccessed {
        recording_id: recording_id.map(str::to_string),
        access: access.as_str().to_string(),
        purpose,
    });
    Ok(fx)
}

/// Whether `actor` may add a snapshot now: the call's agent, during the call, below the cap.
pub(crate) fn may_snapshot(case: &Case, actor: &Actor) -> Result<(), CasesError> {
    const ACTION: &str = "take a snapshot";
    require_agent(case, actor, ACTION, &[CaseState::InCall, CaseState::Checks])?;
    if case.snapshots.len() >= MAX_SNAPSHOTS {
        return Err(CasesError::invalid(
            "snapshot",
            "this case has the most snapshots allowed",
        ));
    }
    Ok(())
}

/// Agent: a snapshot of the running call (face, document front or back), already stored.
pub(crate) fn add_snapshot(
    case: &mut Case,
    actor: &Actor,
    snapshot: Snapshot,
) -> Result<Effects, CasesError> {
    may_snapshot(case, actor)?;
    let mut fx = Effects::default();
    fx.audit.push(AuditEvent::SnapshotTaken {
        kind: snapshot.kind,
        object_id: snapshot.object_id.clone(),
        content_type: snapshot.content_type.clone(),
        bytes: snapshot.bytes,
        sha256: snapshot.sha256.clone(),
    });
    case.snapshots.push(Snapshot {
        attempt: case.attempts,
        taken_by: actor.id().to_string(),
        ..snapshot
    });
    Ok(fx)
}

/// Agent: opens the customer's uploaded ID photo during the call (to compare it with the
/// document shown); logged like every access to evidence.
pub(crate) fn view_id_photo(case: &mut Case, actor: &Actor) -> Result<Effects, CasesError> {
    const ACTION: &str = "view the id photo";
    require_agent(case, actor, ACTION, &[CaseState::InCall, CaseState::Checks])?;
    if case.photo.is_none() {
        return Err(CasesError::NotFound("id photo"));
    }
    let mut fx = Effects::default();
    fx.audit.push(AuditEvent::EvidenceAccessed {
        recording_id: None,
        access: "id_photo".into(),
        purpose: Some(
            "the agent compares the uploaded document with the one shown in the call".into(),
        ),
    });
    Ok(fx)
}

/// System: a copy of the trail was sealed into the vault.
pub(crate) fn trail_sealed(
    case: &mut Case,
    actor: &Actor,
    sealed: SealedTrail,
) -> Result<Effects, CasesError> {
    require_role(actor, Role::System, "seal the trail")?;
    let mut fx = Effects::default();
    fx.audit.push(AuditEvent::TrailSealed {
        object_id: sealed.object_id.clone(),
        entries: sealed.entries,
        head_hash: sealed.head_hash.clone(),
        sha256: sealed.sha256.clone(),
    });
    case.sealed_trails.push(sealed);
    Ok(fx)
}

/// Snapshots a case may hold over all its attempts.
pub const MAX_SNAPSHOTS: usize = 60;
