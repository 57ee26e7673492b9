//! The control plane's figures in `/metrics`: the queue's length and how long customers waited
//! (`vidid_queue_length`, `vidid_queue_wait_seconds`). The node's load is in [`crate::node`].

use std::sync::Arc;

use prometheus::{Histogram, HistogramOpts, IntGauge, Registry};
use tracing::debug;
use vidid_cases::{Case, Cases};

const WAIT_BUCKETS: &[f64] = &[
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
];

/// See the module docs.
#[derive(Clone)]
pub struct ControlMetrics {
    /// Customers in the queue, connected or within the rejoin grace period.
    pub queue_length: IntGauge,
    /// Seconds from joining the queue to being taken by an agent.
    pub queue_wait: Histogram,
}

impl ControlMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = ControlMetrics {
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
        registry.register(Box::new(m.queue_length.clone()))?;
        registry.register(Box::new(m.queue_wait.clone()))?;
        Ok(m)
    }

    /// Before a scrape: the queue's length from the store (all signaling processes share it).
    pub async fn refresh(&self, cases: &Cases) {
        match cases.queue_length().await {
            Ok(n) => self.queue_length.set(i64::from(n)),
            Err(e) => debug!(error = %e, "queue length for /metrics"),
        }
    }

    /// After a take: observes how long `case` waited, without delaying the agent's answer.
    pub fn observe_taken(&self, cases: &Arc<Cases>, case: &Case) {
        let (hist, cases, case) = (self.queue_wait.clone(), cases.clone(), case.clone());
        tokio::spawn(async move {
            match cases.queue_wait(&case).await {
                Ok(Some(wait)) => hist.observe(wait.as_secs_f64()),
                Ok(None) => {}
                Err(e) => debug!(error = %e, case_id = %case.id, "queue wait from the audit trail"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_once() {
        let r = Registry::new();
        let m = ControlMetrics::register(&r).unwrap();
        m.queue_length.set(3);
        m.queue_wait.observe(42.0);
        let names: Vec<String> = r.gather().iter().map(|f| f.name().to_string()).collect();
        for n in ["vidid_queue_length", "vidid_queue_wait_seconds"] {
            assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
        }
        assert!(ControlMetrics::register(&r).is_err(), "names are unique");
    }
}
