//! The staff pages' API beyond the call (docs/api.md, "Compliance portal" and "Board"), the
//! agent's snapshots and the customer's own TAN entry.
//!
//! **Access grants.** Nothing in a case's evidence is shown without a stated purpose: the
//! portal first asks `POST /api/v1/cases/{id}/access {purpose, action}`, which writes the
//! access (who, what, why) into the case's hash-chained audit trail and only then returns a
//! grant: an HMAC-signed token naming the case, the user, the action and an expiry
//! ([`GRANT_TTL`]). The dossier, the evidence images and the recording audio are served only
//! against a grant of the right action, to the same signed-in user. An `<audio>` element's
//! repeated range requests therefore ride on one audited access, not one per request.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::{Date, OffsetDateTime};
use vidid_cases::{
    Case, CaseQuery, CaseState, CasesError, EvidenceAccess, Role, Snapshot, SnapshotKind,
};

use crate::AppState;
use crate::cases_api::{
    ApiError, ApiResult, CasesCtx, case_view, ctx, customer, json_body, put_evidence, read_image,
    rfc3339, staff,
};
use crate::recordings::{RecordingCheck, RecordingStatus};

/// How long a grant stays valid.
pub const GRANT_TTL: time::Duration = time::Duration::minutes(15);

// ─── grants ─────────────────────────────────────────────────────────────────────────────────

#[derive(Debug, Serialize, Deserialize)]
struct Grant {
    /// Case id.
    c: String,
    /// User id.
    u: String,
    /// Action: view | play | download.
    a: String,
    /// Expiry, Unix seconds.
    e: i64,
}

fn sign_grant(key: &ring::hmac::Key, g: &Grant) -> String {
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(g).unwrap_or_default());
    let tag = ring::hmac::sign(key, body.as_bytes());
    format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

fn denied(message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "grant_invalid", message)
}

/// Checks a grant for this case, this user and one of `actions`.
fn check_grant(
    key: &ring::hmac::Key,
    token: Option<&str>,
    case_id: &str,
    user_id: &str,
    actions: &[&str],
    now: OffsetDateTime,
) -> Result<Grant, ApiError> {
    let token = token.ok_or_else(|| {
        denied("state a purpose first: POST /api/v1/cases/{id}/access gives a grant")
    })?;
    let (body, tag) = token
        .split_once('.')
        .ok_or_else(|| denied("malformed grant"))?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| denied("malformed grant"))?;
    ring::hmac::verify(key, body.as_bytes(), &tag).map_err(|_| denied("grant not valid"))?;
    let g: Grant = URL_SAFE_NO_PAD
        .decode(body)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| denied("malformed grant"))?;
    if g.c != case_id || g.u != user_id {
        return Err(denied("this grant is for another case or user"));
    }
    if !actions.contains(&g.a.as_str()) {
        return Err(denied("this grant does not cover this access"));
    }
    if now.unix_timestamp() > g.e {
        return Err(denied("the grant expired: state the purpose again"));
    }
    Ok(g)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantQuery {
    grant: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessReq {
    purpose: String,
    action: String,
}

/// `POST /api/v1/cases/{id}/access {purpose, action}`: audit the access, then grant it.
pub async fn access(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult {
    let ctx = ctx(&state)?;
    let (actor, user) = staff(ctx, &headers).await?;
    let req: AccessReq = json_body(&headers, body).await?;
    let access = match req.action.as_str() {
        "view" => EvidenceAccess::View,
        "play" => EvidenceAccess::Play,
        "download" => EvidenceAccess::Download,
        _ => {
            return Err(ApiError::from(CasesError::invalid(
                "action",
                "one of view, play, download",
            )));
        }
    };
    ctx.cases
        .access_evidence(&actor, &id, None, access, Some(&req.purpose))
        .await?;
    let expires = ctx.cases.now() + GRANT_TTL;
    let grant = sign_grant(
        &ctx.grant_key,
        &Grant {
            c: id.clone(),
            u: user.id.clone(),
            a: req.action.clone(),
            e: expires.unix_timestamp(),
        },
    );
    tracing::info!(case_id = %id, user = %user.username, action = %req.action, "evidence access granted");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "grant": grant, "action": req.action, "expires_at": rfc3339(expires) })),
    )
        .into_response())
}

// ─── search ─────────────────────────────────────────────────────────────────────────────────

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    q: Option<String>,
    from: Option<String>,
    to: Option<String>,
    outcome: Option<String>,
    limit: Option<u32>,
}

fn parse_day(field: &'static str, s: &str) -> Result<Date, ApiError> {
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| ApiError::from(CasesError::invalid(field, "a date, YYYY-MM-DD")))
}

fn outcome_states(outcome: &str) -> Result<Vec<CaseState>, ApiError> {
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
            return Err(ApiError::from(CasesError::invalid(
                "outcome",
                "approved, rejected, aborted, expired, cancelled or open",
            )));
        }
    })
}

/// `GET /api/v1/cases?q=&from=&to=&outcome=&limit=` (compliance, supervisors, admins).
pub async fn search(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let ctx = ctx(&state)?;
    let (actor, _) = staff(ctx, &headers).await?;
    let Query(q) =
        query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let hours = ctx.cases.hours();
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
    let (cases, truncated) = ctx.cases.search_cases(&actor, &query).await?;
    let names = usernames(ctx, cases.iter().filter_map(|c| c.agent_id.clone())).await;
    let rows: Vec<Value> = cases
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "state": c.state,
                "customer_name": c.customer.name,
                "contract_ref": c.contract_ref,
                "created_at": rfc3339(c.created_at),
                "decided_at": c.decided_at.map(rfc3339),
                "attempts": c.attempts,
                "agent_id": c.agent_id,
                "agent": c.agent_id.as_ref().and_then(|id| names.get(id)),
            })
        })
        .collect();
    Ok(Json(json!({ "cases": rows, "truncated": truncated })).into_response())
}

// ─── dossier, evidence, audio ───────────────────────────────────────────────────────────────

fn evidence_list(c: &Case) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(p) = &c.photo {
        out.push(json!({
            "object_id": p.object_id, "kind": "id_photo", "content_type": p.content_type,
            "bytes": p.bytes, "sha256": p.sha256, "taken_at": rfc3339(p.uploaded_at),
            "attempt": null, "taken_by": "customer",
        }));
    }
    for t in &c.sealed_trails {
        out.push(json!({
            "object_id": t.object_id, "kind": "audit_trail", "content_type": "application/x-ndjson",
            "bytes": t.bytes, "sha256": t.sha256, "taken_at": rfc3339(t.sealed_at),
            "attempt": null, "taken_by": "system", "entries": t.entries, "head_hash": t.head_hash,
        }));
    }
    for s in &c.snapshots {
        out.push(json!({
            "object_id": s.object_id, "kind": s.kind, "content_type": s.content_type,
            "bytes": s.bytes, "sha256": s.sha256, "taken_at": rfc3339(s.taken_at),
            "attempt": s.attempt, "taken_by": s.taken_by,
        }));
    }
    out
}

/// The recording ids of a case: one per attempt (`<case id>-<attempt>`).
fn recording_ids(c: &Case) -> Vec<String> {
    (1..=c.attempts).map(|a| format!("{}-{a}", c.id)).collect()
}

async fn check_recording(ctx: &CasesCtx, rid: String) -> RecordingCheck {
    let Some(lib) = ctx.recordings.clone() else {
        return RecordingCheck {
            status: RecordingStatus::Missing,
            problems: vec!["recordings are not reachable from this server".into()],
            duration_ms: None,
        };
    };
    tokio::task::spawn_blocking(move || lib.check(&rid))
        .await
        .unwrap_or_else(|e| RecordingCheck {
            status: RecordingStatus::Failed,
            problems: vec![format!("the check did not finish: {e}")],
            duration_ms: None,
        })
}

/// `GET /api/v1/cases/{id}/dossier?grant=` (a view grant).
pub async fn dossier(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<GrantQuery>,
) -> ApiResult {
    let ctx = ctx(&state)?;
    let (actor, user) = staff(ctx, &headers).await?;
    check_grant(
        &ctx.grant_key,
        q.grant.as_deref(),
        &id,
        &user.id,
        &["view"],
        ctx.cases.now(),
    )?;
    let case = ctx.cases.case(&actor, &id).await?;
    let trail = ctx.cases.trail_unlogged(&case).await?;
    let mut recordings = Vec::new();
    for (i, rid) in recording_ids(&case).into_iter().enumerate() {
        let check = check_recording(ctx, rid.clone()).await;
        recordings.push(json!({
            "recording_id": rid,
            "attempt": i + 1,
            "duration_ms": check.duration_ms,
            "verification": { "status": check.status, "problems": check.problems },
        }));
    }
    let names = usernames(ctx, case.agent_id.clone().into_iter()).await;
    Ok(Json(json!({
        "case": case_view(&case, true),
        "agent": case.agent_id.as_ref().and_then(|id| names.get(id)),
        "audit": {
            "verified": trail.broken.is_none(),
            "broken": trail.broken.map(|b| b.to_string()),
            "head": trail.head,
            "entries": trail.entries,
        },
        "evidence": evidence_list(&case),
        "recordings": recordings,
    }))
    .into_response())
}

/// `GET /api/v1/cases/{id}/evidence/{object_id}?grant=` (a view grant): the image.
pub async fn evidence_image(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((id, object_id)): Path<(String, String)>,
    Query(q): Query<GrantQuery>,
) -> ApiResult {
    let ctx = ctx(&state)?.clone();
    let (actor, user) = staff(&ctx, &headers).await?;
    check_grant(
        &ctx.grant_key,
        q.grant.as_deref(),
        &id,
        &user.id,
        &["view"],
        ctx.cases.now(),
    )?;
    let case = ctx.cases.case(&actor, &id).await?;
    let content_type = case
        .photo
        .iter()
        .filter(|p| p.object_id == object_id)
        .map(|p| p.content_type.clone())
        .chain(
            case.snapshots
                .iter()
                .filter(|s| s.object_id == object_id)
                .map(|s| s.content_type.clone()),
        )
        .chain(
            case.sealed_trails
                .iter()
                .filter(|t| t.object_id == object_id)
                .map(|_| "application/x-ndjson".to_string()),
        )
        .next()
        .ok_or(CasesError::NotFound("evidence object"))?;
    serve_evidence(&ctx, id, object_id, content_type).await
}

/// An evidence object from the store, decrypted, as the response; images inline, anything else
/// (a sealed trail) as a file to keep and check (`vidid audit verify`).
async fn serve_evidence(
    ctx: &CasesCtx,
    case_id: String,
    object_id: String,
    content_type: String,
) -> ApiResult {
    let store = ctx.evidence.clone();
    let bytes = tokio::task::spawn_blocking(move || store.get(&case_id, &object_id))
        .await
        .map_err(|e| ApiError::from(CasesError::Corrupt(e.to_string())))?
        .map_err(|e| {
            tracing::warn!(error = %e, "evidence read failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "the evidence store could not be read",
            )
        })?;
    let ct = HeaderValue::from_str(&content_type)
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

/// Decrypted WAVs kept briefly in memory (at most [`WAV_CACHE_ENTRIES`], for [`WAV_CACHE_TTL`]).
#[derive(Default)]
pub struct WavCache(Mutex<VecDeque<CachedWav>>);

/// Recording id, the WAV, when it was decrypted.
type CachedWav = (String, Arc<Vec<u8>>, Instant);

const WAV_CACHE_ENTRIES: usize = 2;
const WAV_CACHE_TTL: StdDuration = StdDuration::from_secs(300);

impl WavCache {
    fn get(&self, rid: &str) -> Option<Arc<Vec<u8>>> {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        g.retain(|(_, _, at)| at.elapsed() < WAV_CACHE_TTL);
        g.iter()
            .find(|(r, _, _)| r == rid)
            .map(|(_, b, _)| b.clone())
    }

    fn put(&self, rid: &str, wav: Arc<Vec<u8>>) {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        g.retain(|(r, _, _)| r != rid);
        g.push_back((rid.to_string(), wav, Instant::now()));
        while g.len() > WAV_CACHE_ENTRIES {
            g.pop_front();
        }
    }
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
pub async fn recording_audio(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((id, rid)): Path<(String, String)>,
    Query(q): Query<GrantQuery>,
) -> ApiResult {
    let ctx = ctx(&state)?.clone();
    let (actor, user) = staff(&ctx, &headers).await?;
    let g = check_grant(
        &ctx.grant_key,
        q.grant.as_deref(),
        &id,
        &user.id,
        &["play", "download"],
        ctx.cases.now(),
    )?;
    let case = ctx.cases.case(&actor, &id).await?;
    if !recording_ids(&case).contains(&rid) {
        return Err(CasesError::NotFound("recording").into());
    }
    let wav = match ctx.wav_cache.get(&rid) {
        Some(w) => w,
        None => {
            let lib = ctx.recordings.clone().ok_or_else(|| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "recordings_unavailable",
                    "recordings are not reachable from this server",
                )
            })?;
            let r = rid.clone();
            let wav = tokio::task::spawn_blocking(move || lib.wav(&r))
                .await
                .map_err(|e| ApiError::from(CasesError::Corrupt(e.to_string())))?
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => {
                        ApiError::from(CasesError::NotFound("recording"))
                    }
                    _ => {
                        tracing::warn!(recording_id = %rid, error = %e, "recording export failed");
                        ApiError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "recording_unreadable",
                            "the recording could not be read from the vault",
                        )
                    }
                })?;
            let wav = Arc::new(wav);
            ctx.wav_cache.put(&rid, wav.clone());
            wav
        }
    };
    let disposition = if g.a == "download" {
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

// ─── agent: snapshots ───────────────────────────────────────────────────────────────────────

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotQuery {
    kind: String,
}

/// `POST /api/v1/cases/{id}/snapshots?kind=face|document_front|document_back` (the agent of
/// the running call; the body a JPEG or PNG).
pub async fn snapshot(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<SnapshotQuery>, axum::extract::rejection::QueryRejection>,
    body: Body,
) -> ApiResult {
    let ctx = ctx(&state)?.clone();
    let (actor, _) = staff(&ctx, &headers).await?;
    let kind = query
        .ok()
        .and_then(|Query(q)| SnapshotKind::parse(&q.kind))
        .ok_or_else(|| {
            ApiError::from(CasesError::invalid(
                "kind",
                "face, document_front or document_back",
            ))
        })?;
    // Refuse before storing anything: only the call's agent, only during the call.
    ctx.cases.can_snapshot(&actor, &id).await?;
    let (content_type, bytes) = read_image(&headers, body).await?;
    let len = bytes.len() as u64;
    let stored = put_evidence(
        ctx.evidence.clone(),
        id.clone(),
        content_type.clone(),
        bytes,
    )
    .await?;
    let snap = Snapshot {
        object_id: stored.object_id,
        kind,
        content_type,
        bytes: len,
        sha256: stored.sha256,
        attempt: 0,
        taken_by: actor.id().to_string(),
        taken_at: ctx.cases.now(),
    };
    let case = ctx.cases.add_snapshot(&actor, &id, snap).await?;
    let s = case.snapshots.last().cloned();
    Ok((
        StatusCode::CREATED,
        Json(json!(s.map(|s| json!({
            "object_id": s.object_id, "kind": s.kind, "content_type": s.content_type,
            "bytes": s.bytes, "sha256": s.sha256, "taken_at": rfc3339(s.taken_at),
            "attempt": s.attempt,
        })))),
    )
        .into_response())
}

/// `GET /api/v1/cases/{id}/id-photo`: the customer's uploaded ID photo, for the call's agent
/// during the call (audited).
pub async fn id_photo(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let ctx = ctx(&state)?.clone();
    let (actor, _) = staff(&ctx, &headers).await?;
    let case = ctx.cases.view_id_photo(&actor, &id).await?;
    let photo = case.photo.ok_or(CasesError::NotFound("id photo"))?;
    serve_evidence(&ctx, id, photo.object_id, photo.content_type).await
}

/// Usernames of staff ids (unknown ids are left out): one read of the staff table, however
/// many ids (the board asks every two seconds).
async fn usernames(
    ctx: &CasesCtx,
    ids: impl Iterator<Item = String>,
) -> std::collections::HashMap<String, String> {
    let wanted: std::collections::HashSet<String> = ids.collect();
    if wanted.is_empty() {
        return Default::default();
    }
    match ctx.cases.store().users().await {
        Ok(users) => users
            .into_iter()
            .filter(|u| wanted.contains(&u.id))
            .map(|u| (u.id, u.username))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "reading staff names");
            Default::default()
        }
    }
}

// ─── customer: TAN ──────────────────────────────────────────────────────────────────────────

/// `POST /api/v1/customer/tan {code}`: the customer types the code they received.
pub async fn customer_tan(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let ctx = ctx(&state)?;
    let (actor, case) = customer(ctx, &headers).await?;
    let req: crate::cases_api::TanReq = json_body(&headers, body).await?;
    let outcome = ctx
        .cases
        .verify_tan(&actor, &case.id, req.code.trim())
        .await?;
    Ok(Json(json!(outcome)).into_response())
}

// ─── supervisors: the live board ────────────────────────────────────────────────────────────

fn secs_since(now: OffsetDateTime, t: OffsetDateTime) -> i64 {
    (now - t).whole_seconds().max(0)
}

/// `GET /api/v1/board` (supervisors, admins).
pub async fn board(State(state): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult {
    let ctx = ctx(&state)?;
    let (actor, _) = staff(ctx, &headers).await?;
    if !matches!(actor.role(), Role::Supervisor | Role::Admin) {
        return Err(CasesError::Forbidden {
            role: actor.role(),
            action: "view the live board",
        }
        .into());
    }
    let now = ctx.cases.now();
    let places = ctx.cases.queue(&actor).await?;
    let agents = ctx.cases.agents(&actor).await?;
    let calls = ctx
        .cases
        .cases_in_states(&actor, &[CaseState::InCall, CaseState::Checks])
        .await?;
    let names = usernames(ctx, agents.iter().map(|a| a.user_id.clone())).await;
    let hours = ctx.cases.hours();
    let longest = places
        .iter()
        .map(|p| secs_since(now, p.joined_at))
        .max()
        .unwrap_or(0);
    Ok(Json(json!({
        "at": rfc3339(now),
        "hours": {
            "open_now": hours.is_open(now),
            "closes_at": hours.closes_at(now).map(|t| rfc3339(hours.to_local(t))),
            "next_opening": rfc3339(hours.to_local(hours.next_opening(now))),
        },
        "queue": {
            "length": places.len(),
            "connected": places.iter().filter(|p| p.connected).count(),
            "longest_wait_secs": longest,
            "estimated_wait_secs": places.last().and_then(|p| p.estimated_wait_secs),
            "places": places.iter().map(|p| json!({
                "case_id": p.case_id, "position": p.position,
                "waiting_secs": secs_since(now, p.joined_at), "connected": p.connected,
            })).collect::<Vec<_>>(),
        },
        "agents": agents.iter().map(|a| json!({
            "user_id": a.user_id,
            "username": names.get(&a.user_id),
            "status": a.status,
            "since": rfc3339(a.since),
            "case_id": a.case_id,
        })).collect::<Vec<_>>(),
        "calls": calls.iter().map(|c| json!({
            "case_id": c.id,
            "call_id": crate::cases_api::call_id_of(c),
            "agent": c.agent_id.as_ref().and_then(|id| names.get(id)).or(c.agent_id.as_ref()),
            "state": c.state,
            "since": c.call_started_at.map(rfc3339),
        })).collect::<Vec<_>>(),
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ring::hmac::Key {
        ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn grants_bind_case_user_action_and_time() {
        let now = OffsetDateTime::now_utc();
        let g = sign_grant(
            &key(),
            &Grant {
                c: "cs_1".into(),
                u: "u_1".into(),
                a: "play".into(),
                e: (now + GRANT_TTL).unix_timestamp(),
            },
        );
        let ok = |c: &str, u: &str, acts: &[&str], t| check_grant(&key(), Some(&g), c, u, acts, t);
        assert!(ok("cs_1", "u_1", &["play", "download"], now).is_ok());
        assert!(ok("cs_2", "u_1", &["play"], now).is_err());
        assert!(ok("cs_1", "u_2", &["play"], now).is_err());
        assert!(ok("cs_1", "u_1", &["view"], now).is_err());
        assert!(
            ok(
                "cs_1",
                "u_1",
                &["play"],
                now + GRANT_TTL + time::Duration::seconds(5)
            )
            .is_err()
        );
        let other =
            ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"another key, another deployment");
        assert!(check_grant(&other, Some(&g), "cs_1", "u_1", &["play"], now).is_err());
        let forged = format!("{}x", g);
        assert!(check_grant(&key(), Some(&forged), "cs_1", "u_1", &["play"], now).is_err());
        assert!(check_grant(&key(), None, "cs_1", "u_1", &["play"], now).is_err());
    }

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
