//! Purpose-bound access grants of the compliance portal.
//!
//! Nothing in a case's evidence is shown without a stated purpose: the access (who, what,
//! why) is first written into the case's hash-chained audit trail, and only then is a grant
//! issued: an HMAC-signed token naming the case, the user, the action and an expiry
//! ([`GRANT_TTL`]). The dossier, the evidence images and the recording audio are served only
//! against a grant of the right action, to the same signed-in user, so an `<audio>` element's
//! repeated range requests ride on one audited access, not one per request.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use vidid_cases::EvidenceAccess;

use crate::{ControlError, Result};

/// How long a grant stays valid.
pub const GRANT_TTL: time::Duration = time::Duration::minutes(15);

/// What a grant allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantAction {
    /// See the dossier and the evidence images.
    View,
    /// Play a recording's audio in the portal.
    Play,
    /// Download a recording's audio as an attachment.
    Download,
}

impl GrantAction {
    /// The action's name on the wire (`view`, `play`, `download`).
    pub fn as_str(self) -> &'static str {
        match self {
            GrantAction::View => "view",
            GrantAction::Play => "play",
            GrantAction::Download => "download",
        }
    }

    /// The action named `s` on the wire; `None` for any other name.
    pub fn parse(s: &str) -> Option<GrantAction> {
        match s {
            "view" => Some(GrantAction::View),
            "play" => Some(GrantAction::Play),
            "download" => Some(GrantAction::Download),
            _ => None,
        }
    }

    /// The audited access this action is.
    pub fn access(self) -> EvidenceAccess {
        match self {
            GrantAction::View => EvidenceAccess::View,
            GrantAction::Play => EvidenceAccess::Play,
            GrantAction::Download => EvidenceAccess::Download,
        }
    }
}

/// A checked grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The case the grant opens.
    pub case_id: String,
    /// The signed-in user the grant was issued to.
    pub user_id: String,
    /// What the grant allows.
    pub action: GrantAction,
    /// When the grant stops working, in Unix seconds.
    pub expires_at: i64,
}

/// The signed form (short keys: the token travels in URLs).
#[derive(Serialize, Deserialize)]
struct Wire {
    c: String,
    u: String,
    a: String,
    e: i64,
}

/// Issues and checks grants with one deployment-wide key.
pub struct Grants {
    key: ring::hmac::Key,
}

impl Grants {
    /// Grants signed with `secret` (shared by every signaling process behind one address).
    pub fn new(secret: &[u8]) -> Self {
        Grants {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
        }
    }

    /// A grant token for `user_id` to do `action` on `case_id` until `expires_at`.
    pub fn issue(
        &self,
        case_id: &str,
        user_id: &str,
        action: GrantAction,
        expires_at: OffsetDateTime,
    ) -> String {
        let wire = Wire {
            c: case_id.to_string(),
            u: user_id.to_string(),
            a: action.as_str().to_string(),
            e: expires_at.unix_timestamp(),
        };
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&wire).unwrap_or_default());
        let tag = ring::hmac::sign(&self.key, body.as_bytes());
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Checks a grant for this case, this user and one of `actions`, at `now`.
    pub fn check(
        &self,
        token: Option<&str>,
        case_id: &str,
        user_id: &str,
        actions: &[GrantAction],
        now: OffsetDateTime,
    ) -> Result<Grant> {
        let denied = ControlError::GrantInvalid;
        let token = token.ok_or(denied(
            "state a purpose first: POST /api/v1/cases/{id}/access gives a grant",
        ))?;
        let (body, tag) = token.split_once('.').ok_or(denied("malformed grant"))?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| denied("malformed grant"))?;
        ring::hmac::verify(&self.key, body.as_bytes(), &tag)
            .map_err(|_| denied("grant not valid"))?;
        let w: Wire = URL_SAFE_NO_PAD
            .decode(body)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(denied("malformed grant"))?;
        if w.c != case_id || w.u != user_id {
            return Err(denied("this grant is for another case or user"));
        }
        let action = GrantAction::parse(&w.a)
            .filter(|a| actions.contains(a))
            .ok_or(denied("this grant does not cover this access"))?;
        if now.unix_timestamp() > w.e {
            return Err(denied("the grant expired: state the purpose again"));
        }
        Ok(Grant {
            case_id: w.c,
            user_id: w.u,
            action,
            expires_at: w.e,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use GrantAction::*;

    fn grants() -> Grants {
        Grants::new(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn grants_bind_case_user_action_and_time() {
        let now = OffsetDateTime::now_utc();
        let g = grants().issue("cs_1", "u_1", Play, now + GRANT_TTL);
        let ok =
            |c: &str, u: &str, acts: &[GrantAction], t| grants().check(Some(&g), c, u, acts, t);
        assert_eq!(
            ok("cs_1", "u_1", &[Play, Download], now).unwrap().action,
            Play
        );
        assert!(ok("cs_2", "u_1", &[Play], now).is_err());
        assert!(ok("cs_1", "u_2", &[Play], now).is_err());
        assert!(ok("cs_1", "u_1", &[View], now).is_err());
        assert!(
            ok(
                "cs_1",
                "u_1",
                &[Play],
                now + GRANT_TTL + time::Duration::seconds(5)
            )
            .is_err()
        );
        let other = Grants::new(b"another key, another deployment");
        assert!(other.check(Some(&g), "cs_1", "u_1", &[Play], now).is_err());
        let forged = format!("{g}x");
        assert!(
            grants()
                .check(Some(&forged), "cs_1", "u_1", &[Play], now)
                .is_err()
        );
        assert!(grants().check(None, "cs_1", "u_1", &[Play], now).is_err());
    }
}
