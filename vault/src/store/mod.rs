//! Where the vault keeps objects: one trait, two implementations.
//!
//! - [`LocalStore`] (embedded default): files under `<data-dir>/vault/`, WORM enforced by
//!   this code: objects are created once and made read-only, and no call deletes or replaces
//!   one before its retain-until date (it returns [`StoreError::Locked`] instead).
//! - [`S3Store`]: any S3-compatible server with Object Lock. Objects are written with
//!   COMPLIANCE mode, a retain-until date and tags; the bucket's lock configuration is checked
//!   at start-up; each upload's retention is read back.
//!
//! Keys are `/`-separated relative paths (see `docs/recording-format.md`, "Store layout").
//! Every object is written once; a second `put` of a key fails with
//! [`StoreError::AlreadyExists`].

mod local;
mod s3;

pub use local::LocalStore;
pub use s3::{S3Config, S3Store};

use time::OffsetDateTime;

/// The lock mode every vault object carries.
pub const COMPLIANCE: &str = "COMPLIANCE";

/// What goes wrong in a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No such object.
    #[error("object {0} not found")]
    NotFound(String),
    /// The key exists; objects are never replaced.
    #[error("object {0} already exists; stored objects are never overwritten")]
    AlreadyExists(String),
    /// A delete, overwrite or shortening was refused because the object is locked.
    #[error("object {key} is locked (WORM, {mode}) until {until}: refusing to {action}")]
    Locked {
        /// The object.
        key: String,
        /// The retain-until date (RFC 3339), or `unknown` when the server did not say.
        until: String,
        /// Lock mode.
        mode: String,
        /// What was refused.
        action: &'static str,
    },
    /// The store cannot be reached or failed transiently: retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store refused the request (permissions, bad request): retrying will not help.
    #[error("store refused the request: {0}")]
    Rejected(String),
    /// The store does not provide what the vault requires (Object Lock, COMPLIANCE default).
    #[error("store not usable for recordings: {0}")]
    Misconfigured(String),
    /// A local file operation failed.
    #[error("store i/o failed: {0}")]
    Io(#[from] std::io::Error),
    /// An invalid key.
    #[error("invalid object key {0:?}")]
    BadKey(String),
}

impl StoreError {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Io(_))
    }
}

/// How a new object is stored.
#[derive(Debug, Clone)]
pub struct PutOptions {
    /// COMPLIANCE retention until this instant (whole seconds).
    pub retain_until: OffsetDateTime,
    /// Object tags (S3 tag rules: at most 10, keys ≤ 128, values ≤ 256 characters).
    pub tags: Vec<(String, String)>,
    /// SHA-256 of the body (checked by S3 servers that support `x-amz-checksum-sha256`, and
    /// kept as object metadata).
    pub sha256: [u8; 32],
    /// MIME type.
    pub content_type: &'static str,
}

/// What a successful `put` stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// The key.
    pub key: String,
    /// The S3 version id (versioned buckets); `None` in the local store.
    pub version_id: Option<String>,
    /// Bytes stored.
    pub size: u64,
}

/// An object as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The key.
    pub key: String,
    /// Bytes.
    pub size: u64,
    /// Current version id, if versioned.
    pub version_id: Option<String>,
    /// The SHA-256 (hex) recorded at upload, when the listing can tell.
    pub sha256: Option<String>,
}

/// An object's retention as the store reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// `COMPLIANCE` or `GOVERNANCE`.
    pub mode: String,
    /// Retain-until date.
    pub retain_until: OffsetDateTime,
}

/// Object storage for recordings (see the module docs).
pub trait RecordingStore: Send + Sync {
    /// A short description for logs and reports, e.g. `s3://bucket/prefix (http://host:port)`.
    fn describe(&self) -> String;
    /// Check that the store enforces WORM as the vault requires; a clear error naming the
    /// problem if not. Called at start-up.
    fn check_worm(&self) -> Result<(), StoreError>;
    /// Store a new object with COMPLIANCE retention and tags. Fails with
    /// [`StoreError::AlreadyExists`] if the key exists.
    fn put(&self, key: &str, body: &[u8], opts: &PutOptions) -> Result<StoredObject, StoreError>;
    /// Read an object (a given version, or the current one).
    fn get(&self, key: &str, version_id: Option<&str>) -> Result<Vec<u8>, StoreError>;
    /// The current version of an object, if it exists.
    fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError>;
    /// Every object whose key starts with `prefix`, sorted by key (current versions).
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError>;
    /// How many versions the key has (1 unless someone wrote it again in a versioned bucket).
    fn version_count(&self, key: &str) -> Result<usize, StoreError>;
    /// An object's retention, `None` if it has none.
    fn retention(
        &self,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<Retention>, StoreError>;
    /// An object's tags.
    fn tags(
        &self,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Vec<(String, String)>, StoreError>;
    /// Move an object's retain-until date later (COMPLIANCE allows extending, never shortening).
    fn extend_retention(
        &self,
        key: &str,
        version_id: Option<&str>,
        until: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Delete an object. Refused ([`StoreError::Locked`]) before its retain-until date; the
    /// vault itself never calls this. It exists so that the refusal is testable and explicit.
    fn delete(&self, key: &str, version_id: Option<&str>) -> Result<(), StoreError>;
}

/// Keys are relative `/`-separated paths of safe components.
pub(crate) fn check_key(key: &str) -> Result<(), StoreError> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|c| {
            !c.is_empty()
                && !c.starts_with('.')
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        });
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadKey(key.to_owned()))
    }
}

/// Truncate to whole seconds (S3 retention dates are second-precise).
pub fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

/// RFC 3339 text of an instant.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// Percent-encode a tag key or value for the `x-amz-tagging` header (RFC 3986 unreserved
/// characters stay).
pub(crate) fn tag_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
