//! Evidence objects: the customer's ID photo and the agent's call snapshots.
//!
//! Each object is sealed exactly like one recording chunk ([`mod@crate::format`]: a fresh DEK
//! wrapped under the current KEK, AES-256-GCM STREAM, the object id bound into the header in
//! place of the recording id) and stored at `evidence/<case id>/<object id>` with COMPLIANCE
//! retention for `retention_years` (plus the margin) from the upload, the recordings' tags,
//! and the retention read back. Uploads are synchronous: a store outage fails the upload
//! (the caller reports it and the customer or agent tries again); nothing is kept in
//! plaintext anywhere.

use crate::engine::digest;
use crate::format::{ChunkHeader, Dek, SealParams, open_chunk, random_hex, rng, seal_chunk};
use crate::store::PutOptions;
use crate::{Vault, VaultError};

/// What [`Vault::put_evidence`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceRef {
    /// `ev_<hex>`: names the object within its case.
    pub object_id: String,
    /// The store key.
    pub key: String,
    /// SHA-256 of the plaintext, hex.
    pub sha256: String,
    /// Plaintext bytes.
    pub bytes: u64,
}

fn evidence_key(case_id: &str, object_id: &str) -> Result<String, VaultError> {
    let plain = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if !plain(case_id) || !plain(object_id) {
        return Err(VaultError::Invalid("bad case or evidence object id".into()));
    }
    Ok(format!("evidence/{case_id}/{object_id}"))
}

impl Vault {
    /// Encrypts and stores one evidence object of `case_id` (blocking).
    pub fn put_evidence(&self, case_id: &str, bytes: &[u8]) -> Result<EvidenceRef, VaultError> {
        let core = &self.core;
        let object_id = format!("ev_{}", random_hex(16));
        let key = evidence_key(case_id, &object_id)?;
        let dek = Dek::generate(rng())?;
        let (kek_id, wrapped) = core.keys.wrap(&dek, &object_id)?;
        let sealed = seal_chunk(
            &SealParams {
                recording_id: &object_id,
                chunk_index: 0,
                final_chunk: true,
                segment_size: core.cfg.segment_size,
                kek_id: &kek_id,
                wrapped_dek: &wrapped,
                dek: &dek,
            },
            bytes,
            rng(),
        )?;
        let retain_until = core.initial_retain_until(time::OffsetDateTime::now_utc());
        let opts = PutOptions {
            retain_until,
            tags: core.cfg.tags(case_id),
            sha256: digest(&sealed),
            content_type: "application/octet-stream",
        };
        let stored = core.put_once(&key, &sealed, &opts)?;
        core.check_retention(&key, stored.version_id.as_deref(), retain_until)?;
        tracing::info!(
            case_id,
            object_id,
            bytes = bytes.len(),
            "evidence object stored"
        );
        Ok(EvidenceRef {
            sha256: hex::encode(digest(bytes)),
            bytes: bytes.len() as u64,
            object_id,
            key,
        })
    }

    /// Fetches and decrypts an evidence object (blocking). Fails unless it authenticates
    /// as that object.
    pub fn get_evidence(&self, case_id: &str, object_id: &str) -> Result<Vec<u8>, VaultError> {
        let key = evidence_key(case_id, object_id)?;
        let data = match self.core.store.get(&key, None) {
            Ok(d) => d,
            Err(crate::store::StoreError::NotFound(_)) => return Err(VaultError::NotFound(key)),
            Err(e) => return Err(e.into()),
        };
        let header = ChunkHeader::parse(&data)?;
        if header.recording_id != object_id || header.chunk_index != 0 || !header.final_chunk {
            return Err(VaultError::Invalid(format!(
                "{key}: its header names another object"
            )));
        }
        let dek = self
            .core
            .keys
            .unwrap(&header.kek_id, &header.wrapped_dek, object_id)?;
        let mut out = Vec::with_capacity(data.len());
        open_chunk(&data, &header, &dek, |p| out.extend_from_slice(p))?;
        Ok(out)
    }
}
