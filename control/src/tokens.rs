//! Join tokens of calls placed on media nodes.
//!
//! A join token is an HMAC over the call, the party, the node and the expiry, keyed with the
//! deployment's cluster secret: only the node a call was placed on opens its room with these
//! tokens, so a browser sent to one node cannot use its token on another, and a node cannot
//! mint tokens without the secret. (A room opened in this process for `--role all` gets random
//! tokens instead: [`crate::calls::random_token`].)

use base64::Engine as _;
use time::OffsetDateTime;
use vidid_server::Party;

/// Mints join tokens with the cluster secret.
pub struct TokenSigner {
    key: ring::hmac::Key,
}

impl TokenSigner {
    /// A signer keyed with the cluster secret.
    pub fn new(secret: &[u8]) -> Self {
        TokenSigner {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
        }
    }

    /// The join token of `party` for a call placed on `node_id`.
    pub fn call_token(
        &self,
        call_id: &str,
        party: Party,
        node_id: &str,
        expires_at: OffsetDateTime,
    ) -> String {
        let msg = format!(
            "vidid-call-token-v1\0{call_id}\0{}\0{node_id}\0{}",
            party.as_str(),
            expires_at.unix_timestamp()
        );
        let tag = ring::hmac::sign(&self.key, msg.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_call_party_node_and_expiry() {
        let c = TokenSigner::new(b"0123456789abcdef0123456789abcdef");
        let t = OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap();
        let a = c.call_token("cs_1-1", Party::Customer, "m1", t);
        assert_eq!(a, c.call_token("cs_1-1", Party::Customer, "m1", t));
        assert_eq!(a.len(), 43);
        for other in [
            c.call_token("cs_1-2", Party::Customer, "m1", t),
            c.call_token("cs_1-1", Party::Agent, "m1", t),
            c.call_token("cs_1-1", Party::Customer, "m2", t),
            c.call_token(
                "cs_1-1",
                Party::Customer,
                "m1",
                t + time::Duration::seconds(1),
            ),
            TokenSigner::new(b"another secret, another cluster!").call_token(
                "cs_1-1",
                Party::Customer,
                "m1",
                t,
            ),
        ] {
            assert_ne!(a, other);
        }
    }
}
