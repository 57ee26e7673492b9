//! The HTTP and queue metrics the Grafana dashboard (`deploy/grafana/vidid.json`) reads:
//! `vidid_http_responses_total{status}` (a middleware over every route), `vidid_queue_length`
//! (read from the store at each scrape) and `vidid_queue_wait_seconds` (observed when an agent
//! takes a customer: from the customer's last `queue_joined` to the call's start).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry};
use tracing::debug;
use vidid_cases::{AuditEvent, Case};

use crate::AppState;
use crate::cases_api::CasesCtx;

/// Queue waits, in seconds: a second to two hours.
const WAIT_BUCKETS: &[f64] = &[
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
];

/// The dashboard's HTTP and queue metrics (part of [`crate::SignalingMetrics`]).
#[derive(Clone)]
pub struct HttpQueueMetrics {
    /// `vidid_http_responses_total{status}`: responses by status code (`"200"`, `"429"`, …).
    pub http_responses: IntCounterVec,
    /// `vidid_queue_length`: customers in the queue (connected or within the rejoin grace).
    pub queue_length: IntGauge,
    /// `vidid_queue_wait_seconds`: from joining the queue to being taken by an agent.
    pub queue_wait: Histogram,
}

impl HttpQueueMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = HttpQueueMetrics {
            http_responses: IntCounterVec::new(
                Opts::new(
                    "vidid_http_responses_total",
                    "HTTP responses, by status code",
                ),
                &["status"],
            )?,
            queue_length: IntGauge::new(
                "vidid_queue_length",
                "Customers in the queue (connected or within the rejoin grace period)",
            )?,
            queue_wait: Histogram::with_opts(
                HistogramOpts::new(
                    "vidid_queue_wait_seconds",
                    "Time from joining the queue to being taken by an agent",
                )
                .buckets(WAIT_BUCKETS.to_vec()),
            )?,
        };
        registry.register(Box::new(m.http_responses.clone()))?;
        registry.register(Box::new(m.queue_length.clone()))?;
        registry.register(Box::new(m.queue_wait.clone()))?;
        Ok(m)
    }
}

/// Middleware: counts every response by its status code.
pub async fn count_responses(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let resp = next.run(req).await;
    state
        .metrics
        .http
        .http_responses
        .with_label_values(&[resp.status().as_str()])
        .inc();
    resp
}

/// Before a scrape: the queue's length from the store (all signaling processes share it).
pub async fn refresh(state: &AppState) {
    let Some(ctx) = state.cases.as_ref() else {
        return;
    };
    match ctx.cases.store().queue().await {
        Ok(q) => state.metrics.http.queue_length.set(q.len() as i64),
        Err(e) => debug!(error = %e, "queue length for /metrics"),
    }
}

/// After a take: observes how long `case` waited, from its audit trail (the queue place is
/// gone by now), without delaying the agent's answer.
pub fn observe_taken(state: &AppState, ctx: &Arc<CasesCtx>, case: &Case) {
    let hist = state.metrics.http.queue_wait.clone();
    let ctx = ctx.clone();
    let case_id = case.id.clone();
    let taken_at = case.call_started_at.unwrap_or_else(|| ctx.cases.now());
    tokio::spawn(async move {
        match ctx.cases.store().audit(&case_id).await {
            Ok(trail) => {
                if let Some(wait) = queue_wait(&trail, taken_at) {
                    hist.observe(wait);
                }
            }
            Err(e) => debug!(error = %e, case_id, "queue wait from the audit trail"),
        }
    });
}

/// Seconds from the last `queue_joined` before `taken_at` to `taken_at`.
fn queue_wait(trail: &[vidid_cases::AuditEntry], taken_at: time::OffsetDateTime) -> Option<f64> {
    let joined = trail
        .iter()
        .rev()
        .filter(|e| e.at <= taken_at)
        .find(|e| matches!(e.event(), Ok(AuditEvent::QueueJoined)))?;
    Some((taken_at - joined.at).as_seconds_f64().max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_and_counts() {
        let r = Registry::new();
        let m = HttpQueueMetrics::register(&r).unwrap();
        m.http_responses.with_label_values(&["429"]).inc();
        m.queue_length.set(3);
        m.queue_wait.observe(42.0);
        let names: Vec<String> = r.gather().iter().map(|f| f.name().to_string()).collect();
        for n in [
            "vidid_http_responses_total",
            "vidid_queue_length",
            "vidid_queue_wait_seconds",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
        }
        assert!(HttpQueueMetrics::register(&r).is_err(), "names are unique");
    }

    fn entry(seq: u64, at: time::OffsetDateTime, ev: AuditEvent) -> vidid_cases::AuditEntry {
        vidid_cases::AuditEntry {
            case_id: "c".into(),
            seq,
            at,
            actor_role: vidid_cases::Role::Customer,
            actor_id: "c".into(),
            event: serde_json::to_string(&ev).unwrap(),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn the_wait_runs_from_the_last_join() {
        let t0 = time::macros::datetime!(2026-01-15 10:00 UTC);
        let s = time::Duration::seconds;
        let trail = vec![
            entry(1, t0, AuditEvent::QueueJoined),
            entry(2, t0 + s(30), AuditEvent::QueueLeft),
            entry(3, t0 + s(100), AuditEvent::QueueJoined),
            entry(4, t0 + s(110), AuditEvent::QueueDisconnected),
            entry(5, t0 + s(115), AuditEvent::QueueRejoined),
        ];
        assert_eq!(queue_wait(&trail, t0 + s(190)), Some(90.0));
        assert_eq!(queue_wait(&trail[1..2], t0 + s(190)), None);
    }
}
