//! What a run measures: packets sent and received, one-way latency through the server
//! (histogram, microseconds), loss and interarrival jitter (RFC 3550 §6.4.1).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Counters shared by every participant of a run.
pub struct Stats {
    pub connected: AtomicU64,
    pub sent_audio: AtomicU64,
    pub sent_video: AtomicU64,
    pub received_video: AtomicU64,
    pub duplicate_video: AtomicU64,
    pub send_errors: AtomicU64,
    latency_us: Mutex<Histogram<u64>>,
    jitter_us: Mutex<Vec<f64>>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            connected: AtomicU64::new(0),
            sent_audio: AtomicU64::new(0),
            sent_video: AtomicU64::new(0),
            received_video: AtomicU64::new(0),
            duplicate_video: AtomicU64::new(0),
            send_errors: AtomicU64::new(0),
            latency_us: Mutex::new(latency_histogram()),
            jitter_us: Mutex::new(Vec::new()),
        }
    }
}

/// A run's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub connected: u64,
    pub sent_audio: u64,
    pub sent_video: u64,
    pub received_video: u64,
    pub lost_video: u64,
    pub loss_fraction: f64,
    pub duplicate_video: u64,
    pub send_errors: u64,
    pub latency_p50_us: u64,
    pub latency_p99_us: u64,
    pub latency_max_us: u64,
    pub jitter_mean_us: f64,
}

impl Stats {
    pub fn summary(&self) -> Summary {
        let h = self.latency_us.lock().unwrap_or_else(|e| e.into_inner());
        let j = self.jitter_us.lock().unwrap_or_else(|e| e.into_inner());
        let sent = self.sent_video.load(Relaxed);
        let got = self.received_video.load(Relaxed);
        let lost = sent.saturating_sub(got);
        Summary {
            connected: self.connected.load(Relaxed),
            sent_audio: self.sent_audio.load(Relaxed),
            sent_video: sent,
            received_video: got,
            lost_video: lost,
            loss_fraction: if sent == 0 {
                0.0
            } else {
                lost as f64 / sent as f64
            },
            duplicate_video: self.duplicate_video.load(Relaxed),
            send_errors: self.send_errors.load(Relaxed),
            latency_p50_us: h.value_at_quantile(0.50),
            latency_p99_us: h.value_at_quantile(0.99),
            latency_max_us: h.max(),
            jitter_mean_us: if j.is_empty() {
                0.0
            } else {
                j.iter().sum::<f64>() / j.len() as f64
            },
        }
    }
}

/// One participant's receive side. Keeps its own histogram and merges it at the end, so the
/// per-packet path takes no lock.
pub struct Receiver {
    latency_us: Histogram<u64>,
    seen: std::collections::HashSet<u64>,
    last_transit: Option<i64>,
    jitter: f64,
    received: u64,
}

impl Default for Receiver {
    fn default() -> Self {
        Receiver {
            latency_us: latency_histogram(),
            seen: Default::default(),
            last_transit: None,
            jitter: 0.0,
            received: 0,
        }
    }
}

impl Receiver {
    pub fn on_rtp(&mut self, payload: &[u8], epoch: Instant, _stats: &Stats) {
        let Some((sent_ns, seq)) = crate::participant::read_probe(payload) else {
            return;
        };
        if !self.seen.insert(seq) {
            _stats.duplicate_video.fetch_add(1, Relaxed);
            return;
        }
        let now_ns = epoch.elapsed().as_nanos() as i64;
        let transit = now_ns - sent_ns as i64;
        let _ = self.latency_us.record((transit.max(1000) / 1000) as u64);
        if let Some(prev) = self.last_transit {
            let d = ((transit - prev).abs() as f64) / 1000.0;
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
        self.received += 1;
    }

    pub fn finish(self, stats: &Stats) {
        stats.received_video.fetch_add(self.received, Relaxed);
        if let Ok(mut h) = stats.latency_us.lock() {
            let _ = h.add(&self.latency_us);
        }
        if self.received > 0
            && let Ok(mut j) = stats.jitter_us.lock()
        {
            j.push(self.jitter);
        }
    }
}

/// Latencies from 1 µs to 60 s at 3 significant digits.
#[allow(
    clippy::expect_used,
    reason = "constant bounds that hdrhistogram accepts"
)]
fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}
