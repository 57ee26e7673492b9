//! Compliance staff (and supervisors for search): find a case, state a purpose to get a grant
//! ([`vidid_control::grants`]: the access is audited first), then read the dossier, view the
//! evidence, play or download the recording, and read the trail.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use time::Date;
use vidid_cases::{CaseQuery, CaseState, CasesError};
use vidid_control::evidence;
use vidid_control::grants::{GRANT_TTL, GrantAction};
use vidid_control::recordings::recording_ids;

use crate::AppState;
use crate::api::ApiResult;
use crate::api::extract::{Staff, StrictJson, StrictQuery};
use crate::api::views::{
    AccessGranted, AuditView, CaseView, DossierView, EvidenceItem, RecordingRow, SearchRow,
    SearchView, TrailView, Verification, rfc3339,
};

/// The portal's routes: search, access grants, dossier, evidence, recording audio, trail.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/cases", get(search))
        .route("/api/v1/cases/{id}/access", post(access))
        .route("/api/v1/cases/{id}/dossier", get(dossier))
        .route(
            "/api/v1/cases/{id}/evidence/{object_id}",
            get(evidence_image),
        )
        .route(
            "/api/v1/cases/{id}/recordings/{recording_id}/audio.wav",
            get(recording_audio),
        )
        .route("/api/v1/cases/{id}/audit", get(audit))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessReq {
    purpose: String,
    action: String,
}

/// `POST /api/v1/cases/{id}/access {purpose, action}`: audit the access, then grant it.
async fn access(
    State(state): State<Arc<AppState>>,
    s: Staff,
    Path(id): Path<String>,
    StrictJson(req): StrictJson<AccessReq>,
) -> ApiResult {
    let action = GrantAction::parse(&req.action)
        .ok_or_else(|| CasesError::invalid("action", "one of view, play, download"))?;
    state
        .cases
        .access_evidence(&s.actor, &id, None, action.access(), Some(&req.purpose))
        .await?;
    let expires = state.cases.now() + GRANT_TTL;
    let grant = state.grants.issue(&id, &s.user.id, action, expires);
    tracing::info!(case_id = %id, user = %s.user.username, action = action.as_str(), "evidence access granted");
    Ok((
        StatusCode::CREATED,
        Json(AccessGranted {
            grant,
            action: action.as_str(),
            expires_at: rfc3339(expires),
        }),
    )
        .into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    q: Option<String>,
    from: Option<String>,
    to: Option<String>,
    outcome: Option<String>,
    limit: Option<u32>,
}

fn parse_day(field: &'static str, s: &str) -> Result<Date, CasesError> {
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| CasesError::invalid(field, "a date, YYYY-MM-DD"))
}

fn outcome_states(outcome: &str) -> Result<Vec<CaseState>, CasesError> {
    use CaseState::*;
    Ok(match outcome {
        "approved" => vec![Approved],
        "rejected" => vec![Rejected],
        "aborted" => vec![Aborted],
        "expired" => vec![Expired],
        "cancelled" => vec![Cancelled],
        "open" => vec![Created, Prepared, Queued, InCall, Checks],
        "" | "any" => vec![],
        _ => {
            return Err(CasesError::invalid(
                "outcome",
                "approved, rejected, aborted, expired, cancelled or open",
            ));
        }
    })
}

/// `GET /api/v1/cases?q=&from=&to=&outcome=&limit=` (compliance, supervisors, admins).
async fn search(
    State(state): State<Arc<AppState>>,
    s: Staff,
    StrictQuery(q): StrictQuery<SearchQuery>,
) -> ApiResult<Json<SearchView>> {
    let hours = state.cases.hours();
    // Days are local days (Europe/Ljubljana by default): `to` includes its whole day.
    let at_midnight = |d: Date| hours.start_of_day(d);
    let from = q
        .from
        .as_deref()
        .map(|s| parse_day("from", s))
        .transpose()?;
    let to = q.to.as_deref().map(|s| parse_day("to", s)).transpose()?;
    let query = CaseQuery {
        text: q.q.filter(|s| !s.trim().is_empty()),
        from: from.map(at_midnight),
        to: to.and_then(|d| d.next_day()).map(at_midnight),
        states: outcome_states(q.outcome.as_deref().unwrap_or(""))?,
        limit: q.limit.unwrap_or(50),
    };
    let (cases, truncated) = state.cases.search_cases(&s.actor, &query).await?;
    let names = state
        .staff_names(cases.iter().filter_map(|c| c.agent_id.clone()))
        .await;
    let cases = cases
        .into_iter()
        .map(|c| SearchRow {
            agent: c.agent_id.as_ref().and_then(|id| names.get(id)).cloned(),
            id: c.id,
            state: c.state,
            customer_name: c.customer.name,
            contract_ref: c.contract_ref,
            created_at: rfc3339(c.created_at),
            decided_at: c.decided_at.map(rfc3339),
            attempts: c.attempts,
            agent_id: c.agent_id,
        })
        .collect();
    Ok(Json(SearchView { cases, truncated }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantQuery {
    grant: Option<String>,
}

/// The case, read by `s` under a grant for one of `actions` (checked first).
async fn granted_case(
    state: &AppState,
    s: &Staff,
    id: &str,
    grant: Option<&str>,
    actions: &[GrantAction],
) -> ApiResult<(vidid_cases::Case, vidid_control::grants::Grant)> {
    let g = state
        .grants
        .check(grant, id, &s.user.id, actions, state.cases.now())?;
    Ok((state.cases.case(&s.actor, id).await?, g))
}

/// `GET /api/v1/cases/{id}/dossier?grant=` (a view grant).
async fn dossier(
    State(state): State<Arc<AppState>>,
    s: Staff,
    Path(id): Path<String>,
    StrictQuery(q): StrictQuery<GrantQuery>,
) -> ApiResult<Json<DossierView>> {
    let view = [GrantAction::View];
    let (case, _) = granted_case(&state, &s, &id, q.grant.as_deref(), &view).await?;
    let trail = state.cases.trail_unlogged(&case).await?;
    let mut recordings = Vec::new();
    for (i, rid) in recording_ids(&case).into_iter().enumerate() {
        let check = state.recordings.check(&rid).await;
        recordings.push(RecordingRow {
            recording_id: rid,
            attempt: i + 1,
            duration_ms: check.duration_ms,
            verification: Verification {
                status: check.status,
                problems: check.problems,
            },
        });
    }
    let names = state.staff_names(case.agent_id.clone()).await;
    Ok(Json(DossierView {
        agent: case.agent_id.as_ref().and_then(|id| names.get(id)).cloned(),
        case: CaseView::for_staff(&case),
        audit: TrailView::from(trail),
        evidence: EvidenceItem::all_of(&case),
        recordings,
    }))
}

/// `GET /api/v1/cases/{id}/evidence/{object_id}?grant=` (a view grant): the image, or a
/// sealed trail as a file.
async fn evidence_image(
    State(state): State<Arc<AppState>>,
    s: Staff,
    Path((id, object_id)): Path<(String, String)>,
    StrictQuery(q): StrictQuery<GrantQuery>,
) -> ApiResult {
    let view = [GrantAction::View];
    let (case, _) = granted_case(&state, &s, &id, q.grant.as_deref(), &view).await?;
    let content_type = EvidenceItem::all_of(&case)
        .into_iter()
        .find(|e| e.object_id == object_id)
        .map(|e| e.content_type)
        .ok_or(CasesError::NotFound("evidence object"))?;
    serve_evidence(&state, &id, &object_id, &content_type).await
}

/// An evidence object from the store, decrypted, as the response; images inline, anything else
/// (a sealed trail) as a file to keep and check (`vidid audit verify`).
pub(crate) async fn serve_evidence(
    state: &AppState,
    case_id: &str,
    object_id: &str,
    content_type: &str,
) -> ApiResult {
    let bytes = evidence::get(state.evidence.clone(), case_id, object_id).await?;
    let ct = HeaderValue::from_str(content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let mut resp = (
        [
            (header::CONTENT_TYPE, ct),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        bytes,
    )
        .into_response();
    if !content_type.starts_with("image/") {
        resp.headers_mut().insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"audit-trail.jsonl\""),
        );
    }
    Ok(resp)
}

/// `bytes=a-b` / `bytes=a-` / `bytes=-n` → the byte range within `len`.
fn parse_range(h: &str, len: usize) -> Option<(usize, usize)> {
    let spec = h.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || len == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = if a.is_empty() {
        let n: usize = b.parse().ok()?;
        (len.saturating_sub(n), len - 1)
    } else {
        let start: usize = a.parse().ok()?;
        let end = if b.is_empty() {
            len - 1
        } else {
            b.parse::<usize>().ok()?.min(len - 1)
        };
        (start, end)
    };
    (start <= end && start < len).then_some((start, end))
}

/// `GET /api/v1/cases/{id}/recordings/{recording_id}/audio.wav?grant=` (a play or download
/// grant): the recording decrypted to WAV, with single-range support for `<audio>`.
async fn recording_audio(
    State(state): State<Arc<AppState>>,
    s: Staff,
    Path((id, rid)): Path<(String, String)>,
    StrictQuery(q): StrictQuery<GrantQuery>,
    headers: HeaderMap,
) -> ApiResult {
    let plays = [GrantAction::Play, GrantAction::Download];
    let (case, g) = granted_case(&state, &s, &id, q.grant.as_deref(), &plays).await?;
    if !recording_ids(&case).contains(&rid) {
        return Err(CasesError::NotFound("recording").into());
    }
    let wav = state.recordings.wav(&rid).await?;
    let disposition = if g.action == GrantAction::Download {
        format!("attachment; filename=\"{rid}.wav\"")
    } else {
        format!("inline; filename=\"{rid}.wav\"")
    };
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| parse_range(h, wav.len()));
    let mut resp = match range {
        Some((a, b)) => {
            let mut r = Response::new(Body::from(wav[a..=b].to_vec()));
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {a}-{b}/{}", wav.len()))
                    .unwrap_or(HeaderValue::from_static("bytes */0")),
            );
            r
        }
        None => Response::new(Body::from(wav.as_ref().clone())),
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// `GET /api/v1/cases/{id}/audit`: the trail and whether it verifies (`read_audit`).
async fn audit(
    State(state): State<Arc<AppState>>,
    s: Staff,
    Path(id): Path<String>,
) -> ApiResult<Json<AuditView>> {
    let trail = state.cases.audit_trail(&s.actor, &id).await?;
    Ok(Json(AuditView {
        case_id: trail.case_id.clone(),
        trail: TrailView::from(trail),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-", 100), Some((0, 99)));
        assert_eq!(parse_range("bytes=10-19", 100), Some((10, 19)));
        assert_eq!(parse_range("bytes=90-200", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }

    #[test]
    fn outcomes() {
        assert_eq!(
            outcome_states("approved").unwrap(),
            vec![CaseState::Approved]
        );
        assert!(outcome_states("").unwrap().is_empty());
        assert!(outcome_states("bogus").is_err());
    }
}
