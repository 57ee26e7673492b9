//! ICE servers handed to browsers, with time-limited TURN credentials.
//!
//! The credentials follow the coturn "REST API" convention (`use-auth-secret` in coturn):
//! `username = <unix expiry>:<label>`, `credential = base64(HMAC-SHA1(secret, username))`.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// TURN/STUN settings (`[turn]` in the config file).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TurnConfig {
    /// STUN URLs handed to browsers as-is, e.g. `stun:turn.example.net:3478`.
    pub stun_urls: Vec<String>,
    /// TURN URLs, e.g. `turn:turn.example.net:3478?transport=udp`, `turns:turn.example.net:5349`.
    pub urls: Vec<String>,
    /// The secret shared with coturn (`static-auth-secret`). Never logged.
    #[serde(skip_serializing)]
    pub shared_secret: Option<String>,
    /// How long a credential is valid, in seconds.
    pub ttl_secs: u64,
}

/// One entry of `RTCConfiguration.iceServers`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IceServer {
    /// The STUN or TURN URLs this entry covers.
    pub urls: Vec<String>,
    /// The TURN username (`<unix expiry>:<label>`); `None` for STUN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The TURN password, base64 of the HMAC-SHA1 of the username; `None` for STUN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

impl TurnConfig {
    /// The ICE servers for one participant, with credentials valid from `now_unix` for the TTL.
    pub fn ice_servers(&self, label: &str, now_unix: u64) -> Vec<IceServer> {
        let mut out = Vec::new();
        if !self.stun_urls.is_empty() {
            out.push(IceServer {
                urls: self.stun_urls.clone(),
                username: None,
                credential: None,
            });
        }
        if let (false, Some(secret)) = (self.urls.is_empty(), &self.shared_secret) {
            let ttl = if self.ttl_secs == 0 {
                3600
            } else {
                self.ttl_secs
            };
            let username = format!("{}:{}", now_unix + ttl, label);
            let key =
                ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
            let tag = ring::hmac::sign(&key, username.as_bytes());
            out.push(IceServer {
                urls: self.urls.clone(),
                username: Some(username),
                credential: Some(base64::engine::general_purpose::STANDARD.encode(tag.as_ref())),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coturn_rest_credentials() {
        let cfg = TurnConfig {
            stun_urls: vec!["stun:example.net:3478".into()],
            urls: vec!["turn:example.net:3478".into()],
            shared_secret: Some("north".into()),
            ttl_secs: 600,
        };
        let servers = cfg.ice_servers("c_1", 1_700_000_000);
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[1].username.as_deref(), Some("1700000600:c_1"));
        // printf '1700000600:c_1' | openssl dgst -sha1 -hmac north -binary | base64
        assert_eq!(
            servers[1].credential.as_deref(),
            Some("TvfZdWWeF/QiNncehSZ/VHmtL60=")
        );
    }

    #[test]
    fn no_secret_no_turn() {
        let cfg = TurnConfig {
            urls: vec!["turn:example.net".into()],
            ..Default::default()
        };
        assert!(cfg.ice_servers("x", 0).is_empty());
    }
}
