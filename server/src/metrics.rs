//! Prometheus metrics of the media plane (`vidid_media_*`).

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// Counters the media loop updates. Cheap to clone (the prometheus types are `Arc`s inside).
#[derive(Clone)]
pub struct MediaMetrics {
    /// RTP packets relayed to the other participant, by `kind` (`audio`, `video`).
    pub packets_forwarded: IntCounterVec,
    /// RTP payload bytes relayed to the other participant, by `kind` (`audio`, `video`).
    pub bytes_forwarded: IntCounterVec,
    /// UDP datagrams received on the media socket.
    pub packets_received: IntCounter,
    /// Datagrams from an address no peer connection owns; they are dropped.
    pub packets_unroutable: IntCounter,
    /// RTCP feedback messages seen, by `type`.
    pub rtcp_feedback: IntCounterVec,
    /// Calls with a room on this media node.
    pub active_calls: IntGauge,
    /// Peer connections on this media node.
    pub active_peers: IntGauge,
    /// Packets the engine refused to relay (codec not negotiated on the receiving leg, etc.).
    pub forward_errors: IntCounter,
    /// Datagrams the media socket could not send (buffer full).
    pub send_failures: IntCounter,
    /// `packets_forwarded` / `bytes_forwarded` for audio (0) and video (1), resolved once so the
    /// relay does not look labels up per packet.
    pub forwarded_packets: [IntCounter; 2],
    /// `bytes_forwarded` for audio (0) and video (1), resolved once like `forwarded_packets`.
    pub forwarded_bytes: [IntCounter; 2],
}

impl MediaMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let packets_forwarded = IntCounterVec::new(
            Opts::new(
                "vidid_media_packets_forwarded_total",
                "RTP packets relayed to the other participant",
            ),
            &["kind"],
        )?;
        let bytes_forwarded = IntCounterVec::new(
            Opts::new(
                "vidid_media_bytes_forwarded_total",
                "RTP payload bytes relayed to the other participant",
            ),
            &["kind"],
        )?;
        let m = MediaMetrics {
            forwarded_packets: ["audio", "video"]
                .map(|k| packets_forwarded.with_label_values(&[k])),
            forwarded_bytes: ["audio", "video"].map(|k| bytes_forwarded.with_label_values(&[k])),
            packets_forwarded,
            bytes_forwarded,
            packets_received: IntCounter::new(
                "vidid_media_datagrams_received_total",
                "UDP datagrams received on the media socket",
            )?,
            packets_unroutable: IntCounter::new(
                "vidid_media_datagrams_unroutable_total",
                "UDP datagrams from an address no peer connection owns (dropped)",
            )?,
            rtcp_feedback: IntCounterVec::new(
                Opts::new(
                    "vidid_media_rtcp_feedback_total",
                    "RTCP feedback messages seen, by type",
                ),
                &["type"],
            )?,
            active_calls: IntGauge::new(
                "vidid_media_active_calls",
                "Calls with a room on this media node",
            )?,
            active_peers: IntGauge::new(
                "vidid_media_active_peers",
                "Peer connections on this media node",
            )?,
            forward_errors: IntCounter::new(
                "vidid_media_forward_errors_total",
                "Packets the engine refused to relay (codec not negotiated on the receiving leg, etc.)",
            )?,
            send_failures: IntCounter::new(
                "vidid_media_send_failures_total",
                "Datagrams the media socket could not send (buffer full): raise media.socket_buffer_bytes",
            )?,
        };
        registry.register(Box::new(m.send_failures.clone()))?;
        registry.register(Box::new(m.packets_forwarded.clone()))?;
        registry.register(Box::new(m.bytes_forwarded.clone()))?;
        registry.register(Box::new(m.packets_received.clone()))?;
        registry.register(Box::new(m.packets_unroutable.clone()))?;
        registry.register(Box::new(m.rtcp_feedback.clone()))?;
        registry.register(Box::new(m.active_calls.clone()))?;
        registry.register(Box::new(m.active_peers.clone()))?;
        registry.register(Box::new(m.forward_errors.clone()))?;
        Ok(m)
    }
}
