//! Who acts: roles, permissions, local users with argon2id passwords, and sessions.
//!
//! | permission | agent | supervisor | compliance | admin |
//! |---|---|---|---|---|
//! | take calls | ✓ | ✓ | | |
//! | view the queue | ✓ | ✓ | | ✓ |
//! | read cases | ✓ | ✓ | ✓ | ✓ |
//! | read audit trails | | ✓ | ✓ | |
//! | open recordings | | | ✓ | |
//! | export evidence | | | ✓ | |
//! | manage users | | | | ✓ |
//!
//! Customers, the ordering system and the system itself have none of these; what they may do
//! is decided per transition in [`crate::flow`].
//!
//! Passwords are stored as argon2id PHC strings (the `argon2` crate's defaults: 19 MiB, two
//! passes, one lane, a 16-byte random salt). Session and link tokens are 32 random bytes,
//! base64url; only their SHA-256 is stored, so a database dump holds no usable token.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use serde::Serialize;
use time::OffsetDateTime;

use crate::CasesError;
pub use crate::vocabulary::{Permission, Role};

impl std::str::FromStr for Role {
    type Err = CasesError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::parse(s).ok_or_else(|| CasesError::invalid("role", format!("unknown role {s:?}")))
    }
}

/// Whether `role` has `permission`.
pub fn permits(role: Role, permission: Permission) -> bool {
    use Permission::*;
    match role {
        Role::Agent => matches!(permission, TakeCalls | ViewQueue | ReadCases),
        Role::Supervisor => matches!(permission, TakeCalls | ViewQueue | ReadCases | ReadAudit),
        Role::Compliance => {
            matches!(
                permission,
                ReadCases | ReadAudit | OpenRecordings | ExportEvidence
            )
        }
        Role::Admin => matches!(permission, ManageUsers | ViewQueue | ReadCases),
        Role::Customer | Role::OrderingSystem | Role::System => false,
    }
}

/// Someone acting on a case: a role and an id (the case id for a customer, the user id for
/// staff, `ordering-system`, or `system:<component>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    role: Role,
    id: String,
}

impl Actor {
    /// The customer of `case_id` (after the link token was resolved).
    pub fn customer(case_id: &str) -> Actor {
        Actor {
            role: Role::Customer,
            id: case_id.to_string(),
        }
    }

    /// A logged-in staff user.
    pub fn staff(user: &User) -> Actor {
        Actor {
            role: user.role,
            id: user.id.clone(),
        }
    }

    /// The ordering system (authenticated by the API key).
    pub fn ordering_system() -> Actor {
        Actor {
            role: Role::OrderingSystem,
            id: "ordering-system".into(),
        }
    }

    /// vidid itself; `component` names what acted (`sweeper`, `ws`).
    pub fn system(component: &str) -> Actor {
        Actor {
            role: Role::System,
            id: format!("system:{component}"),
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Fails with [`CasesError::PermissionDenied`] unless the role has `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), CasesError> {
        if permits(self.role, permission) {
            Ok(())
        } else {
            Err(CasesError::PermissionDenied {
                role: self.role,
                permission,
            })
        }
    }
}

/// A local staff user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(skip)]
    pub(crate) password_hash: String,
}

/// Shortest accepted password.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Checks a user name: 1–64 characters of letters, digits, `.`, `_`, `-`, `@`.
pub fn validate_username(name: &str) -> Result<(), CasesError> {
    let ok = !name.is_empty()
        && name.chars().count() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(CasesError::invalid(
            "username",
            "use 1 to 64 letters, digits, '.', '_', '-' or '@'",
        ))
    }
}

/// An argon2id PHC string for `password` (CPU-heavy: call from a blocking context).
pub fn hash_password(password: &str) -> Result<String, CasesError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(CasesError::invalid(
            "password",
            format!("use at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| CasesError::Corrupt(format!("salt: {e}")))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CasesError::Corrupt(format!("argon2: {e}")))
}

/// Whether `password` matches the PHC string (false for a malformed one).
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    argon2::Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// 32 random bytes from the thread CSPRNG, base64url without padding.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// How tokens are stored: hex SHA-256.
pub fn token_hash(token: &str) -> String {
    hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        token.as_bytes(),
    ))
}

/// A new random id with a prefix: `cs_` cases, `us_` users, `wh_` webhook deliveries.
pub(crate) fn new_id(prefix: &str) -> String {
    let raw: [u8; 12] = rand::random();
    format!("{prefix}{}", hex::encode(raw))
}

/// A logged-in session: the plaintext token exists only in this value.
#[derive(Debug, Clone)]
pub struct Login {
    pub token: String,
    pub user: User,
    pub expires_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_hash_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterz", &h));
        assert!(!verify_password("x", "not a phc string"));
        let h2 = hash_password("correct horse battery").unwrap();
        assert_ne!(h, h2, "salted");
        assert!(hash_password("short").is_err());
    }

    #[test]
    fn permission_matrix() {
        use Permission::*;
        assert!(permits(Role::Agent, TakeCalls));
        assert!(
            !permits(Role::Agent, OpenRecordings),
            "an agent cannot open recordings"
        );
        assert!(
            !permits(Role::Compliance, TakeCalls),
            "compliance cannot take calls"
        );
        assert!(permits(Role::Compliance, OpenRecordings));
        assert!(permits(Role::Supervisor, ReadAudit));
        assert!(!permits(Role::Admin, OpenRecordings));
        assert!(permits(Role::Admin, ManageUsers));
        for p in [
            TakeCalls,
            ViewQueue,
            ReadCases,
            ReadAudit,
            OpenRecordings,
            ExportEvidence,
            ManageUsers,
        ] {
            assert!(!permits(Role::Customer, p));
            assert!(!permits(Role::OrderingSystem, p));
        }
        let a = Actor::system("t");
        assert!(matches!(
            a.require(ReadAudit),
            Err(CasesError::PermissionDenied { .. })
        ));
    }

    #[test]
    fn tokens_and_names() {
        let t = random_token();
        assert_eq!(t.len(), 43);
        assert_eq!(token_hash(&t).len(), 64);
        assert_ne!(random_token(), t);
        assert!(validate_username("ana.kos").is_ok());
        assert!(validate_username("ana kos").is_err());
        assert!(validate_username("").is_err());
        assert_eq!("compliance".parse::<Role>().unwrap(), Role::Compliance);
    }
}
