//! Media-plane settings (`[media]` in the config file).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Where the media socket lives and what it tells browsers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Address the one UDP socket binds. Unset: the host of the HTTP listen address.
    pub bind_ip: Option<IpAddr>,
    /// UDP port of the media socket; 0 lets the system choose (fine on one machine,
    /// set a fixed port for firewalls and Kubernetes host networking).
    pub udp_port: u16,
    /// Addresses announced to browsers as ICE host candidates (the public IP behind a 1:1 NAT).
    /// Unset: the bound address, when it is a specific one.
    pub announce_ips: Vec<IpAddr>,
    /// Calls this node accepts at once; more are refused with `media_unavailable`.
    pub max_calls: usize,
    /// Video codecs offered to browsers, in order of preference: `VP8`, `H264`.
    pub video_codecs: Vec<String>,
    /// Receive and send buffer of the media socket. Every call shares this one socket, so
    /// the system default (~200 KiB) overflows under load; the kernel caps it at
    /// `net.core.rmem_max` / `wmem_max`, raise those to match.
    pub socket_buffer_bytes: usize,
    /// Packets of history per video sender for answering NACKs (a power of two).
    pub nack_history: u16,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            bind_ip: None,
            udp_port: 0,
            announce_ips: Vec::new(),
            max_calls: 500,
            video_codecs: vec!["VP8".into(), "H264".into()],
            socket_buffer_bytes: 4 * 1024 * 1024,
            nack_history: 256,
        }
    }
}
