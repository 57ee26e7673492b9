//! The signed manifest of a recording, the deployment's hash chain, and the published key.
//!
//! `recordings/<id>/manifest.json` holds `{"manifest": {…}, "signature": {…}}` in canonical
//! JSON ([`crate::canonical`]). The signature is Ed25519 over the canonical bytes of the
//! `manifest` member; the manifest's hash (SHA-256 of the same bytes) is what the next
//! manifest of the deployment names as `chain.prev_manifest_sha256`, and what the chain link
//! object `chain/<deployment>/<seq>.json` records.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::canonical::{CanonicalError, to_canonical};
use crate::keys::{KeyError, ManifestSigner, fingerprint, verify_signature};

/// The `format` of manifests this code writes.
pub const MANIFEST_FORMAT: &str = "vidid-manifest/1";
/// The `prev_manifest_sha256` of a deployment's first manifest.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One recording's manifest: the signed statement of what was stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// The deployment whose chain this manifest is part of.
    pub deployment_id: String,
    /// The recording.
    pub recording_id: String,
    /// The call.
    pub call_id: String,
    /// The identification case (today the call id: calls and cases are one to one).
    pub case_id: String,
    /// Wall-clock time of the recording's timeline sample 0 (RFC 3339).
    pub started_at: String,
    /// When the recording ended; `None` if the process died before it ended.
    pub ended_at: Option<String>,
    /// When this manifest was written.
    pub closed_at: String,
    /// End of the last audio packet of either party in ms, when known.
    pub duration_ms: Option<u64>,
    /// Whether the recording was ended normally and everything was stored.
    pub complete: bool,
    /// Why not, when `complete` is false.
    pub incomplete_reason: Option<String>,
    /// What the decrypted bytes are.
    pub codec: Codec,
    /// The parties and their streams, with the recorder's counters (empty if the process
    /// died: the counters died with it).
    pub participants: Vec<Participant>,
    /// How the chunks are encrypted.
    pub encryption: Encryption,
    /// Every stored chunk, in order.
    pub objects: Vec<ManifestObject>,
    /// The retention every object of the recording carries.
    pub retention: RetentionInfo,
    /// The place in the deployment's hash chain.
    pub chain: ChainPosition,
    /// The key that signs this manifest (also in the signature envelope).
    pub signing_key_id: String,
    /// `vidid <version>`.
    pub software: String,
}

/// The decrypted content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Codec {
    /// `ogg`.
    pub container: String,
    /// `opus`.
    pub codec: String,
    /// The SDP codec: `opus/48000/2`.
    pub rtp_codec: String,
    /// OpusHead pre-skip (0).
    pub pre_skip: u16,
    /// The logical streams.
    pub streams: Vec<StreamInfo>,
}

/// One Ogg logical stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamInfo {
    /// `customer` or `agent`.
    pub party: String,
    /// Ogg serial number.
    pub serial: u32,
}

/// One party of the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Participant {
    /// `customer` or `agent`.
    pub party: String,
    /// Opus packets written.
    pub packets: u64,
    /// Opus payload bytes written.
    pub bytes: u64,
    /// First sample of the party's audio on the timeline (48 kHz), if any.
    pub first_sample: Option<u64>,
    /// End of the party's audio on the timeline (48 kHz).
    pub end_sample: u64,
    /// Sequence numbers never received.
    pub lost: u64,
    /// Packets dropped (duplicate, late, invalid, queue overflow).
    pub dropped: u64,
}

/// The encryption of the chunks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encryption {
    /// `vidid-stream/1`: see `docs/recording-format.md`.
    pub scheme: String,
    /// The KEK that wraps the recording's DEK (none if no chunk was sealed).
    pub kek_id: Option<String>,
    /// Plaintext bytes per STREAM segment.
    pub segment_size: u32,
    /// Chunks are sealed at least this often while audio is written.
    pub chunk_interval_ms: u64,
}

/// One stored chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestObject {
    /// Store key.
    pub key: String,
    /// Chunk index (0, 1, …).
    pub index: u32,
    /// Bytes stored.
    pub size: u64,
    /// SHA-256 of the stored bytes, hex.
    pub sha256: String,
    /// S3 version id, if the store is versioned: readers fetch exactly this version.
    pub version_id: Option<String>,
    /// The chunk's header says it is the recording's last.
    #[serde(rename = "final")]
    pub final_chunk: bool,
    /// Plaintext (Ogg) bytes in the chunk.
    pub plaintext_bytes: u64,
    /// When the chunk was sealed (RFC 3339).
    pub sealed_at: String,
}

/// Retention of the recording's objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionInfo {
    /// `COMPLIANCE`.
    pub mode: String,
    /// Every object is retained at least until this date (RFC 3339).
    pub retain_until: String,
    /// The configured retention in years, counted from the end of the recording.
    pub years: u32,
    /// The tags every object carries.
    pub tags: std::collections::BTreeMap<String, String>,
}

/// A manifest's place in the deployment's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainPosition {
    /// 1 for the deployment's first manifest, then +1 each.
    pub seq: u64,
    /// SHA-256 of the previous manifest's canonical bytes ([`GENESIS`] for the first).
    pub prev_manifest_sha256: String,
    /// The previous manifest's recording, for readers.
    pub prev_recording_id: Option<String>,
}

/// The signature envelope member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureInfo {
    /// `Ed25519`.
    pub algorithm: String,
    /// The signing key's id.
    pub key_id: String,
    /// SHA-256 of the public key, hex.
    pub public_key_sha256: String,
    /// The signature, base64.
    pub value: String,
}

/// A chain link object: `chain/<deployment>/<seq:020>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainLinkRecord {
    /// Position in the chain.
    pub seq: u64,
    /// The recording.
    pub recording_id: String,
    /// Key of its manifest.
    pub manifest_key: String,
    /// SHA-256 of its canonical manifest.
    pub manifest_sha256: String,
    /// The previous manifest's hash.
    pub prev_manifest_sha256: String,
}

/// The published public key: `keys/signing-<id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeyRecord {
    /// `Ed25519`.
    pub algorithm: String,
    /// The key's id.
    pub key_id: String,
    /// The 32-byte public key, base64.
    pub public_key: String,
    /// Its SHA-256, hex (what an auditor pins).
    pub fingerprint_sha256: String,
    /// The deployment.
    pub deployment_id: String,
}

/// What goes wrong with manifests.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// Not JSON, or not a manifest of this format.
    #[error("malformed manifest: {0}")]
    Malformed(String),
    /// No canonical form.
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
    /// Signing failed.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// A manifest as read: the parsed struct, its canonical bytes and hash, and the signature.
#[derive(Debug, Clone)]
pub struct SignedManifest {
    /// The manifest.
    pub manifest: Manifest,
    /// The signature envelope.
    pub signature: SignatureInfo,
    /// Canonical bytes of the `manifest` member (what was signed).
    pub canonical: Vec<u8>,
    /// SHA-256 of `canonical`, hex.
    pub sha256: String,
}

impl SignedManifest {
    /// Whether the signature verifies under `public_key`.
    pub fn signature_valid(&self, public_key: &[u8]) -> bool {
        use base64::Engine as _;
        let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(&self.signature.value)
        else {
            return false;
        };
        self.signature.algorithm == "Ed25519" && verify_signature(public_key, &self.canonical, &sig)
    }
}

/// SHA-256, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

/// Sign a manifest: the stored bytes of `manifest.json` and the manifest's hash.
pub fn sign_manifest(
    manifest: &Manifest,
    signer: &dyn ManifestSigner,
) -> Result<(Vec<u8>, String), ManifestError> {
    use base64::Engine as _;
    let value =
        serde_json::to_value(manifest).map_err(|e| ManifestError::Malformed(e.to_string()))?;
    let canonical = to_canonical(&value)?;
    let sig = signer.sign(&canonical)?;
    let envelope = serde_json::json!({
        "manifest": value,
        "signature": SignatureInfo {
            algorithm: "Ed25519".into(),
            key_id: signer.key_id(),
            public_key_sha256: fingerprint(&signer.public_key()),
            value: base64::engine::general_purpose::STANDARD.encode(sig),
        },
    });
    let mut bytes = to_canonical(&envelope)?;
    bytes.push(b'\n');
    Ok((bytes, sha256_hex(&canonical)))
}

/// Parse a stored `manifest.json` (the signature is not checked here).
pub fn parse_manifest(bytes: &[u8]) -> Result<SignedManifest, ManifestError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed(e.to_string()))?;
    let Value::Object(mut envelope) = value else {
        return Err(ManifestError::Malformed("not a json object".into()));
    };
    let manifest_value = envelope
        .remove("manifest")
        .ok_or_else(|| ManifestError::Malformed("no \"manifest\" member".into()))?;
    let signature_value = envelope
        .remove("signature")
        .ok_or_else(|| ManifestError::Malformed("no \"signature\" member".into()))?;
    if let Some(k) = envelope.keys().next() {
        return Err(ManifestError::Malformed(format!("unexpected member {k:?}")));
    }
    let canonical = to_canonical(&manifest_value)?;
    let manifest: Manifest = serde_json::from_value(manifest_value)
        .map_err(|e| ManifestError::Malformed(e.to_string()))?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(ManifestError::Malformed(format!(
            "unknown format {:?}",
            manifest.format
        )));
    }
    let signature: SignatureInfo = serde_json::from_value(signature_value)
        .map_err(|e| ManifestError::Malformed(format!("signature: {e}")))?;
    let sha256 = sha256_hex(&canonical);
    Ok(SignedManifest {
        manifest,
        signature,
        canonical,
        sha256,
    })
}

/// Canonical bytes of any serializable record (chain links, public keys), with a newline.
pub fn canonical_record<T: Serialize>(record: &T) -> Result<Vec<u8>, ManifestError> {
    let value =
        serde_json::to_value(record).map_err(|e| ManifestError::Malformed(e.to_string()))?;
    let mut bytes = to_canonical(&value)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Store key of a recording's chunk.
pub fn chunk_key(recording_id: &str, index: u32) -> String {
    format!("recordings/{recording_id}/chunk-{index:06}.vrec")
}

/// Store key of a recording's manifest.
pub fn manifest_key(recording_id: &str) -> String {
    format!("recordings/{recording_id}/manifest.json")
}

/// Store prefix of a recording's objects.
pub fn recording_prefix(recording_id: &str) -> String {
    format!("recordings/{recording_id}/")
}

/// Store key of a chain link.
pub fn chain_key(deployment_id: &str, seq: u64) -> String {
    format!("chain/{deployment_id}/{seq:020}.json")
}

/// Store key of a published public key.
pub fn public_key_key(key_id: &str) -> String {
    format!("keys/signing-{key_id}.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::StaticSigner;

    pub(crate) fn sample() -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT.into(),
            deployment_id: "dep".into(),
            recording_id: "rec-1".into(),
            call_id: "rec-1".into(),
            case_id: "rec-1".into(),
            started_at: "2026-03-02T10:15:00Z".into(),
            ended_at: Some("2026-03-02T10:20:00Z".into()),
            closed_at: "2026-03-02T10:20:01Z".into(),
            duration_ms: Some(300_000),
            complete: true,
            incomplete_reason: None,
            codec: Codec {
                container: "ogg".into(),
                codec: "opus".into(),
                rtp_codec: "opus/48000/2".into(),
                pre_skip: 0,
                streams: vec![],
            },
            participants: vec![],
            encryption: Encryption {
                scheme: "vidid-stream/1".into(),
                kek_id: Some("k".into()),
                segment_size: 16_384,
                chunk_interval_ms: 5_000,
            },
            objects: vec![],
            retention: RetentionInfo {
                mode: "COMPLIANCE".into(),
                retain_until: "2046-03-03T10:15:00Z".into(),
                years: 20,
                tags: Default::default(),
            },
            chain: ChainPosition {
                seq: 1,
                prev_manifest_sha256: GENESIS.into(),
                prev_recording_id: None,
            },
            signing_key_id: "s".into(),
            software: "vidid test".into(),
        }
    }

    #[test]
    fn signed_manifest_round_trips_and_detects_changes() {
        let signer = StaticSigner::generate("s").unwrap();
        let (bytes, hash) = sign_manifest(&sample(), &signer).unwrap();
        let parsed = parse_manifest(&bytes).unwrap();
        assert_eq!(parsed.manifest, sample());
        assert_eq!(parsed.sha256, hash);
        assert!(parsed.signature_valid(&signer.public_key()));

        // Reformatting does not matter (the canonical bytes are signed), content does.
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        let pretty = serde_json::to_vec_pretty(&v).unwrap();
        assert!(
            parse_manifest(&pretty)
                .unwrap()
                .signature_valid(&signer.public_key())
        );
        let tampered = String::from_utf8(bytes)
            .unwrap()
            .replace("300000", "300001");
        let parsed = parse_manifest(tampered.as_bytes()).unwrap();
        assert!(!parsed.signature_valid(&signer.public_key()));
        assert_ne!(parsed.sha256, hash);
    }
}
