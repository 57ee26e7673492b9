//! Where uploaded ID-document photos go: the [`EvidenceStore`] seam.
//!
//! The embedded default, [`FsEvidenceStore`], writes the bytes to `<data-dir>/evidence/` (mode
//! 0600, written to a temporary name and renamed). TODO(vault): the issue wants the photo stored
//! encrypted through the recording vault with the recording's retention; when `vidid-vault`
//! offers an evidence-put API, implement this trait over it and wire it in `vidid serve`.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A stored object: its id (for [`vidid_cases::DocumentPhoto::object_id`]) and the plaintext's
/// SHA-256 in hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub object_id: String,
    pub sha256: String,
}

/// Stores evidence objects (ID photos). Blocking: call from `spawn_blocking`.
pub trait EvidenceStore: Send + Sync + 'static {
    fn put(&self, case_id: &str, content_type: &str, bytes: &[u8])
    -> std::io::Result<StoredObject>;
}

/// Plain files under `<data-dir>/evidence/<case-id>/` (see the module docs).
pub struct FsEvidenceStore {
    root: PathBuf,
}

impl FsEvidenceStore {
    pub fn new(data_dir: &Path) -> Self {
        FsEvidenceStore {
            root: data_dir.join("evidence"),
        }
    }
}

fn safe_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl EvidenceStore for FsEvidenceStore {
    fn put(
        &self,
        case_id: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> std::io::Result<StoredObject> {
        if !safe_segment(case_id) {
            return Err(std::io::Error::other("bad case id"));
        }
        let ext = if content_type == "image/png" {
            "png"
        } else {
            "jpg"
        };
        let sha256 = hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes));
        let raw: [u8; 8] = rand::random();
        let name = format!("photo-{}.{ext}", hex::encode(raw));
        let dir = self.root.join(case_id);
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!(".{name}.tmp"));
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
        std::fs::rename(&tmp, dir.join(&name))?;
        Ok(StoredObject {
            object_id: format!("evidence/{case_id}/{name}"),
            sha256,
        })
    }
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
    fn stores_and_sniffs() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsEvidenceStore::new(dir.path());
        let o = s.put("cs_1", "image/jpeg", b"\xff\xd8\xffabc").unwrap();
        assert_eq!(o.sha256.len(), 64);
        assert_eq!(
            std::fs::read(dir.path().join(&o.object_id)).unwrap(),
            b"\xff\xd8\xffabc"
        );
        assert!(s.put("../x", "image/jpeg", b"x").is_err());
        assert_eq!(sniff_image(b"\xff\xd8\xff\xe0"), Some("image/jpeg"));
        assert_eq!(sniff_image(b"GIF89a"), None);
    }
}
