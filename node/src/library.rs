//! The vault behind the control plane's seams: evidence images ([`EvidenceStore`]) and the
//! compliance portal's recordings ([`RecordingLibrary`]), with the same checks as
//! `vidid recording verify` and the same decryption as `vidid recording export`.

use std::sync::Arc;

use vidid_control::evidence::{EvidenceStore, StoredObject};
use vidid_control::recordings::{RecordingCheck, RecordingLibrary, RecordingStatus};
use vidid_vault::keys::{FileKeys, KeyProvider};
use vidid_vault::read::Archive;
use vidid_vault::verify::{Level, Verdict, VerifyOptions};
use vidid_vault::{Vault, VaultError};

/// Evidence objects through [`Vault::put_evidence`] / [`Vault::get_evidence`].
pub struct VaultEvidence(pub Arc<Vault>);

impl EvidenceStore for VaultEvidence {
    fn put(
        &self,
        case_id: &str,
        _content_type: &str,
        bytes: &[u8],
    ) -> std::io::Result<StoredObject> {
        let r = self
            .0
            .put_evidence(case_id, bytes)
            .map_err(std::io::Error::other)?;
        Ok(StoredObject {
            object_id: r.object_id,
            sha256: r.sha256,
        })
    }

    fn get(&self, case_id: &str, object_id: &str) -> std::io::Result<Vec<u8>> {
        match self.0.get_evidence(case_id, object_id) {
            Ok(b) => Ok(b),
            Err(VaultError::NotFound(k)) => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no evidence object {k}"),
            )),
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

/// Recordings read from the vault's store with this node's keys.
pub struct VaultLibrary {
    archive: Archive,
}

impl VaultLibrary {
    /// The recordings in `vault`'s store, verified and decrypted with `keys`.
    pub fn new(vault: &Vault, keys: Arc<FileKeys>) -> Self {
        VaultLibrary {
            archive: Archive {
                store: vault.store(),
                keys: Some(keys.clone() as Arc<dyn KeyProvider>),
                local_keys: Some(keys),
                trusted_key: None,
            },
        }
    }
}

impl RecordingLibrary for VaultLibrary {
    fn check(&self, recording_id: &str) -> RecordingCheck {
        if let Err(VaultError::NotFound(_)) = self.archive.manifest(recording_id) {
            // Never closed (or never started): what storage holds, if anything, is incomplete.
            return match self.archive.stored_chunks(recording_id) {
                Ok(c) if c.chunks > 0 => RecordingCheck {
                    status: RecordingStatus::Incomplete,
                    problems: std::iter::once(
                        "no manifest yet: the recording was not closed (or is still running)"
                            .to_string(),
                    )
                    .chain(c.problems)
                    .collect(),
                    duration_ms: None,
                },
                _ => RecordingCheck {
                    status: RecordingStatus::Missing,
                    problems: vec!["no recording in the store".into()],
                    duration_ms: None,
                },
            };
        }
        let report = self.archive.verify(
            recording_id,
            VerifyOptions {
                retention: true,
                decrypt: true,
            },
        );
        let duration_ms = self
            .archive
            .manifest(recording_id)
            .ok()
            .and_then(|m| m.manifest.duration_ms);
        RecordingCheck {
            status: match report.verdict {
                Verdict::Verified => RecordingStatus::Verified,
                Verdict::Incomplete => RecordingStatus::Incomplete,
                Verdict::Failed => RecordingStatus::Failed,
            },
            problems: report
                .findings
                .iter()
                .filter(|f| f.level != Level::Ok)
                .map(|f| format!("{}: {}", f.subject, f.message))
                .collect(),
            duration_ms,
        }
    }

    fn wav(&self, recording_id: &str) -> std::io::Result<Vec<u8>> {
        match self
            .archive
            .wav_bytes(recording_id, &vidid_recorder::ExportOptions::default())
        {
            Ok((wav, _)) => Ok(wav),
            Err(VaultError::NotFound(id)) => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no recording {id}"),
            )),
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}
