//! Adapting a sender's video bitrate to the *receiver's* downlink.
//!
//! The uplink adapts by itself: the server sends transport-wide congestion control feedback to
//! each browser, whose own estimator then fits its encoder to the path into the server. The
//! path out of the server is the one an SFU must look after: the receiver's loss reports (RTCP
//! RR/SR report blocks about the stream we send it) drive a loss-based estimate, in the manner
//! of the loss half of Google Congestion Control, and the estimate goes to the sending browser
//! as REMB, which caps its encoder. A REMB the receiver sends itself lowers the estimate too.

use std::time::{Duration, Instant};

/// Ceiling of the estimate: about what a 640×480 identification call needs, with headroom.
pub const MAX_BPS: f64 = 2_500_000.0;
/// Floor: below this video is useless for identification; the agent should abort instead.
pub const MIN_BPS: f64 = 150_000.0;
/// REMB to a sender at most this often, unless the estimate fell sharply.
const REMB_INTERVAL: Duration = Duration::from_millis(1000);

/// The downlink estimate of one receiving participant.
#[derive(Debug, Clone)]
pub struct Downlink {
    bps: f64,
    last_sent: Option<(Instant, f64)>,
}

impl Default for Downlink {
    fn default() -> Self {
        Downlink {
            bps: MAX_BPS,
            last_sent: None,
        }
    }
}

impl Downlink {
    /// The current estimate, bits per second.
    pub fn bps(&self) -> f64 {
        self.bps
    }

    /// Takes a report block's fraction lost (0–255, RFC 3550).
    pub fn on_loss_report(&mut self, fraction_lost: u8) {
        let loss = f64::from(fraction_lost) / 256.0;
        if loss > 0.10 {
            self.bps *= 1.0 - 0.5 * loss;
        } else if loss < 0.02 {
            self.bps *= 1.08;
        }
        self.bps = self.bps.clamp(MIN_BPS, MAX_BPS);
    }

    /// Takes the receiver's own REMB.
    pub fn on_remb(&mut self, bps: f64) {
        if bps.is_finite() && bps > 0.0 {
            self.bps = self.bps.min(bps).clamp(MIN_BPS, MAX_BPS);
        }
    }

    /// The bitrate to send upstream now, if a REMB is due.
    pub fn remb_due(&mut self, now: Instant) -> Option<f64> {
        let due = match self.last_sent {
            None => self.bps < MAX_BPS,
            Some((at, sent)) => {
                let changed = (self.bps - sent).abs() / sent > 0.05;
                let sharp_drop = self.bps < sent * 0.8;
                changed && (sharp_drop || now.duration_since(at) >= REMB_INTERVAL)
            }
        };
        if due {
            self.last_sent = Some((now, self.bps));
            Some(self.bps)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heavy_loss_lowers_clean_path_recovers() {
        let mut d = Downlink::default();
        let t0 = Instant::now();
        assert_eq!(d.remb_due(t0), None, "nothing to say while at the ceiling");
        d.on_loss_report(64); // 25 % loss
        assert!((d.bps() - MAX_BPS * 0.875).abs() < 1.0);
        let first = d.remb_due(t0).expect("a drop is reported");
        assert!(first < MAX_BPS);
        for _ in 0..20 {
            d.on_loss_report(128);
        }
        assert_eq!(d.bps(), MIN_BPS, "never below the floor");
        assert!(d.remb_due(t0).is_some(), "a sharp drop is reported at once");
        d.on_loss_report(10); // ~4 %: hold
        assert_eq!(d.bps(), MIN_BPS);
        for _ in 0..100 {
            d.on_loss_report(0);
        }
        assert_eq!(d.bps(), MAX_BPS, "a clean path climbs back to the ceiling");
        assert_eq!(
            d.remb_due(t0 + Duration::from_millis(100)),
            None,
            "rises wait for the interval"
        );
        assert_eq!(d.remb_due(t0 + Duration::from_secs(2)), Some(MAX_BPS));
    }

    #[test]
    fn receiver_remb_caps_the_estimate() {
        let mut d = Downlink::default();
        d.on_remb(400_000.0);
        assert_eq!(d.bps(), 400_000.0);
        d.on_remb(f64::NAN);
        d.on_remb(-1.0);
        assert_eq!(d.bps(), 400_000.0);
    }
}
