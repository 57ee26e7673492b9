//! The adapter's own metrics: participant sockets (`vidid_signaling_ws_*`) and HTTP responses
//! by status (`vidid_http_responses_total`). The queue's figures are the control plane's
//! ([`vidid_control::metrics`]), the media loop's the media server's.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};

/// See the module docs.
#[derive(Clone)]
pub struct SignalingMetrics {
    /// Open participant WebSockets.
    pub ws_connections: IntGauge,
    /// Errors sent to WebSocket clients, by `code`.
    pub ws_errors: IntCounterVec,
    /// HTTP responses, by `status` code.
    pub http_responses: IntCounterVec,
}

impl SignalingMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = SignalingMetrics {
            ws_connections: IntGauge::new(
                "vidid_signaling_ws_connections",
                "Open participant WebSockets",
            )?,
            ws_errors: IntCounterVec::new(
                Opts::new(
                    "vidid_signaling_ws_errors_total",
                    "Errors sent to WebSocket clients, by code",
                ),
                &["code"],
            )?,
            http_responses: IntCounterVec::new(
                Opts::new(
                    "vidid_http_responses_total",
                    "HTTP responses, by status code",
                ),
                &["status"],
            )?,
        };
        registry.register(Box::new(m.ws_connections.clone()))?;
        registry.register(Box::new(m.ws_errors.clone()))?;
        registry.register(Box::new(m.http_responses.clone()))?;
        Ok(m)
    }
}

/// Middleware: counts every response by its status code.
pub async fn count_responses(
    State(metrics): State<SignalingMetrics>,
    req: Request,
    next: Next,
) -> Response {
    let resp = next.run(req).await;
    metrics
        .http_responses
        .with_label_values(&[resp.status().as_str()])
        .inc();
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_and_counts() {
        let r = Registry::new();
        let m = SignalingMetrics::register(&r).unwrap();
        m.http_responses.with_label_values(&["429"]).inc();
        m.ws_errors.with_label_values(&["bad_json"]).inc();
        let names: Vec<String> = r.gather().iter().map(|f| f.name().to_string()).collect();
        for n in [
            "vidid_http_responses_total",
            "vidid_signaling_ws_connections",
            "vidid_signaling_ws_errors_total",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
        }
        assert!(SignalingMetrics::register(&r).is_err(), "names are unique");
    }
}
