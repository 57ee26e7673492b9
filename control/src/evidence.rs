//! Where evidence images go (the customer's ID photo, the agent's call snapshots): the
//! [`EvidenceStore`] seam.
//!
//! `vidid serve` stores them through the recording vault (`vidid_vault::Vault::put_evidence`:
//! encrypted in the process, WORM with the recordings' retention; the adapter is in the `node`
//! crate). [`FsEvidenceStore`] keeps plain files under a directory: for this crate's tests and
//! tools that run without a vault, never for `vidid serve`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::warn;

use crate::{ControlError, Result};

/// A stored object: its id within the case and the plaintext's SHA-256 in hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// The object's id within its case.
    pub object_id: String,
    /// The plaintext's SHA-256, in lowercase hex.
    pub sha256: String,
}

/// Stores and reads evidence objects of a case. Blocking: call from `spawn_blocking`.
pub trait EvidenceStore: Send + Sync + 'static {
    /// Stores `bytes` (of `content_type`) as a new object of the case.
    fn put(&self, case_id: &str, content_type: &str, bytes: &[u8])
    -> std::io::Result<StoredObject>;
    /// The object's plaintext; `NotFound` when the case has no such object.
    fn get(&self, case_id: &str, object_id: &str) -> std::io::Result<Vec<u8>>;
}

/// Plain files under `<root>/<case-id>/<object-id>` (mode 0600); see the module docs.
pub struct FsEvidenceStore {
    root: PathBuf,
}

impl FsEvidenceStore {
    /// Files under `<data-dir>/evidence/`.
    pub fn new(data_dir: &Path) -> Self {
        FsEvidenceStore {
            root: data_dir.join("evidence"),
        }
    }

    fn path(&self, case_id: &str, object_id: &str) -> std::io::Result<PathBuf> {
        if !safe_segment(case_id) || !safe_segment(object_id) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "bad case or object id",
            ));
        }
        Ok(self.root.join(case_id).join(object_id))
    }
}

/// Ids are plain: letters, digits, `_` and `-`, nothing that could name another path.
pub fn safe_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl EvidenceStore for FsEvidenceStore {
    fn put(
        &self,
        case_id: &str,
        _content_type: &str,
        bytes: &[u8],
    ) -> std::io::Result<StoredObject> {
        let sha256 = hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes));
        let raw: [u8; 16] = rand::random();
        let object_id = format!("ev_{}", hex::encode(raw));
        let path = self.path(case_id, &object_id)?;
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".{object_id}.tmp"));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        Ok(StoredObject { object_id, sha256 })
    }

    fn get(&self, case_id: &str, object_id: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.path(case_id, object_id)?)
    }
}

/// Stores an object off the async threads. A storage failure is
/// [`ControlError::StorageUnavailable`]: nothing was recorded, the upload can be repeated.
pub async fn put(
    store: Arc<dyn EvidenceStore>,
    case_id: &str,
    content_type: &str,
    bytes: bytes::Bytes,
) -> Result<StoredObject> {
    let (case_id, content_type) = (case_id.to_string(), content_type.to_string());
    tokio::task::spawn_blocking(move || store.put(&case_id, &content_type, &bytes))
        .await
        .map_err(|e| ControlError::Internal(e.to_string()))?
        .map_err(|e| {
            warn!(error = %e, "evidence store failed");
            ControlError::StorageUnavailable
        })
}

/// Reads an object off the async threads ([`ControlError::StorageUnreadable`] on failure).
pub async fn get(store: Arc<dyn EvidenceStore>, case_id: &str, object_id: &str) -> Result<Vec<u8>> {
    let (case_id, object_id) = (case_id.to_string(), object_id.to_string());
    tokio::task::spawn_blocking(move || store.get(&case_id, &object_id))
        .await
        .map_err(|e| ControlError::Internal(e.to_string()))?
        .map_err(|e| {
            warn!(error = %e, "evidence read failed");
            ControlError::StorageUnreadable
        })
}

/// The image type by magic bytes: JPEG or PNG only.
pub fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some("image/png")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_reads_and_sniffs() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsEvidenceStore::new(dir.path());
        let o = s.put("cs_1", "image/jpeg", b"\xff\xd8\xffabc").unwrap();
        assert_eq!(o.sha256.len(), 64);
        assert_eq!(s.get("cs_1", &o.object_id).unwrap(), b"\xff\xd8\xffabc");
        assert!(s.get("cs_2", &o.object_id).is_err());
        assert!(s.get("cs_1", "../cs_1").is_err());
        assert!(s.put("../x", "image/jpeg", b"x").is_err());
        assert_eq!(sniff_image(b"\xff\xd8\xff\xe0"), Some("image/jpeg"));
        assert_eq!(sniff_image(b"GIF89a"), None);
    }
}
