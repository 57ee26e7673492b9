//! Reading recordings back: the manifest, the signing key, and a decrypting stream.
//!
//! [`Archive`] is a store plus the keys to read it. [`Archive::reader`] checks the manifest's
//! signature and returns a [`ChunkReader`]: an `io::Read` of the recording's Ogg bytes that
//! fetches one chunk at a time (the exact version the manifest names), checks its size and
//! SHA-256 against the manifest and its header against its place, and decrypts it. Plaintext
//! lives in memory, one chunk at a time; it reaches disk only through [`Archive::export_ogg`]
//! or [`Archive::export_wav`], i.e. where the user asked for it.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use vidid_recorder::{ExportOptions, ExportSummary, export_recording_wav, read_recording_from};

use crate::VaultError;
use crate::format::{ChunkHeader, Dek, open_chunk};
use crate::keys::{FileKeys, KeyProvider, fingerprint};
use crate::manifest::{
    ManifestObject, PublicKeyRecord, SignatureInfo, SignedManifest, manifest_key, parse_manifest,
    public_key_key, recording_prefix, sha256_hex,
};
use crate::store::{RecordingStore, StoreError};

/// A store and the keys to read and check it.
#[derive(Clone)]
pub struct Archive {
    /// Where the recordings are.
    pub store: Arc<dyn RecordingStore>,
    /// Unwraps DEKs (needed to decrypt; verification without it checks hashes and
    /// signatures only).
    pub keys: Option<Arc<dyn KeyProvider>>,
    /// The local key directory, whose public keys also verify signatures.
    pub local_keys: Option<Arc<FileKeys>>,
    /// A public key given by the auditor: when set, only it is accepted.
    pub trusted_key: Option<Vec<u8>>,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive")
            .field("store", &self.store.describe())
            .field("keys", &self.keys.is_some())
            .finish_non_exhaustive()
    }
}

/// What [`Archive::export_ogg`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OggExport {
    /// The file.
    pub path: PathBuf,
    /// Ogg bytes.
    pub bytes: u64,
    /// Chunks decrypted.
    pub chunks: usize,
    /// The manifest's completeness.
    pub complete: bool,
}

/// The chunks of a recording found by listing the store (no manifest needed).
#[derive(Debug, Clone, Default)]
pub struct StoredChunks {
    /// The plaintext of chunks `0..chunks`, in order.
    pub plaintext: Vec<u8>,
    /// Chunks that decrypted, contiguous from 0.
    pub chunks: u32,
    /// Whether chunk `chunks - 1` is flagged final.
    pub final_seen: bool,
    /// What stopped the reading early, or was odd.
    pub problems: Vec<String>,
}

/// Decrypt one stored chunk after checking its header against its expected place.
pub fn decrypt_chunk(
    keys: &dyn KeyProvider,
    data: &[u8],
    recording_id: &str,
    index: u32,
) -> Result<(ChunkHeader, Vec<u8>), VaultError> {
    let header = ChunkHeader::parse(data)?;
    if header.recording_id != recording_id {
        return Err(VaultError::Invalid(format!(
            "its header names recording {:?}, not {recording_id:?}",
            header.recording_id
        )));
    }
    if header.chunk_index != index {
        return Err(VaultError::Invalid(format!(
            "its header says it is chunk {} (out of place: reordered or substituted)",
            header.chunk_index
        )));
    }
    let dek: Dek = keys.unwrap(&header.kek_id, &header.wrapped_dek, recording_id)?;
    let mut out = Vec::with_capacity(data.len());
    open_chunk(data, &header, &dek, |p| out.extend_from_slice(p))?;
    Ok((header, out))
}

impl Archive {
    /// The recording's manifest, parsed (signature not checked).
    pub fn manifest(&self, recording_id: &str) -> Result<SignedManifest, VaultError> {
        match self.store.get(&manifest_key(recording_id), None) {
            Ok(bytes) => Ok(parse_manifest(&bytes)?),
            Err(StoreError::NotFound(_)) => Err(VaultError::NotFound(format!(
                "{recording_id} (no manifest: unknown, still being stored, or its server died and has not restarted)"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// The public key that must verify `sig`, and where it came from. An error says why no
    /// key can be trusted.
    pub fn public_key_for(&self, sig: &SignatureInfo) -> Result<(Vec<u8>, String), String> {
        let kid = &sig.key_id;
        if let Some(trusted) = &self.trusted_key {
            let fp = fingerprint(trusted);
            if fp != sig.public_key_sha256 {
                return Err(format!(
                    "signed by key {kid} (sha256 {}), not by the trusted key (sha256 {fp})",
                    sig.public_key_sha256
                ));
            }
            return Ok((trusted.clone(), format!("trusted key sha256 {fp}")));
        }
        let published = match self.store.get(&public_key_key(kid), None) {
            Ok(bytes) => {
                let rec: PublicKeyRecord = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("published key {kid} is malformed: {e}"))?;
                let pk = base64::engine::general_purpose::STANDARD
                    .decode(&rec.public_key)
                    .map_err(|e| format!("published key {kid} is malformed: {e}"))?;
                if rec.key_id != *kid || fingerprint(&pk) != rec.fingerprint_sha256 {
                    return Err(format!("published key record of {kid} is inconsistent"));
                }
                Some(pk)
            }
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(format!("cannot read the published key {kid}: {e}")),
        };
        let local = self
            .local_keys
            .as_ref()
            .and_then(|k| k.signing_public_key(kid).ok());
        let (pk, source) = match (published, local) {
            (Some(p), Some(l)) if p != l => {
                return Err(format!(
                    "the key {kid} published in the store differs from the local key directory's"
                ));
            }
            (Some(p), _) => (p, format!("key {kid} published in the store")),
            (None, Some(l)) => (l, format!("key {kid} from the local key directory")),
            (None, None) => {
                return Err(format!(
                    "signing key {kid} is neither published in the store nor in the local key directory"
                ));
            }
        };
        if fingerprint(&pk) != sig.public_key_sha256 {
            return Err(format!(
                "the signature names public key sha256 {}, but {source} has sha256 {}",
                sig.public_key_sha256,
                fingerprint(&pk)
            ));
        }
        Ok((pk, format!("{source}, sha256 {}", sig.public_key_sha256)))
    }

    fn keys(&self) -> Result<&dyn KeyProvider, VaultError> {
        self.keys
            .as_deref()
            .ok_or_else(|| VaultError::Invalid("no keys to decrypt with".into()))
    }

    /// The manifest (signature checked) and a decrypting reader of the recording.
    pub fn reader(
        &self,
        recording_id: &str,
    ) -> Result<(SignedManifest, ChunkReader<'_>), VaultError> {
        let signed = self.manifest(recording_id)?;
        let (pk, _) = self
            .public_key_for(&signed.signature)
            .map_err(VaultError::Invalid)?;
        if !signed.signature_valid(&pk) {
            return Err(VaultError::Invalid(format!(
                "the manifest of {recording_id} has an invalid signature: run `vidid recording verify`"
            )));
        }
        let reader = ChunkReader {
            store: self.store.as_ref(),
            keys: self.keys()?,
            recording_id: recording_id.to_owned(),
            objects: signed.manifest.objects.clone(),
            next: 0,
            buf: Vec::new(),
            pos: 0,
        };
        Ok((signed, reader))
    }

    /// Decrypt the recording to an Ogg file (through a temporary file, renamed into place).
    pub fn export_ogg(&self, recording_id: &str, out: &Path) -> Result<OggExport, VaultError> {
        let (signed, mut reader) = self.reader(recording_id)?;
        let tmp = temp_beside(out)?;
        let result = (|| -> Result<u64, VaultError> {
            let mut f = std::fs::File::create(&tmp)?;
            let n = io::copy(&mut reader, &mut f)?;
            f.flush()?;
            f.sync_all()?;
            std::fs::rename(&tmp, out)?;
            Ok(n)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        Ok(OggExport {
            path: out.to_path_buf(),
            bytes: result?,
            chunks: signed.manifest.objects.len(),
            complete: signed.manifest.complete,
        })
    }

    /// Decrypt and render the recording to a stereo WAV (customer left, agent right).
    pub fn export_wav(
        &self,
        recording_id: &str,
        out: &Path,
        options: &ExportOptions,
    ) -> Result<ExportSummary, VaultError> {
        let (_, reader) = self.reader(recording_id)?;
        let recording = read_recording_from(reader, format!("vault:{recording_id}"))
            .map_err(|e| VaultError::Invalid(format!("reading {recording_id}: {e}")))?;
        export_recording_wav(&recording, out, options)
            .map_err(|e| VaultError::Invalid(format!("exporting {recording_id}: {e}")))
    }

    /// The recording decrypted to a stereo WAV in memory (no plaintext file).
    pub fn wav_bytes(
        &self,
        recording_id: &str,
        options: &ExportOptions,
    ) -> Result<(Vec<u8>, ExportSummary), VaultError> {
        let (_, reader) = self.reader(recording_id)?;
        let recording = read_recording_from(reader, format!("vault:{recording_id}"))
            .map_err(|e| VaultError::Invalid(format!("reading {recording_id}: {e}")))?;
        vidid_recorder::export_recording_wav_bytes(&recording, options)
            .map_err(|e| VaultError::Invalid(format!("exporting {recording_id}: {e}")))
    }

    /// Decrypt the chunks a listing of the store finds, contiguous from chunk 0, without a
    /// manifest: what storage holds of a recording that was never closed.
    pub fn stored_chunks(&self, recording_id: &str) -> Result<StoredChunks, VaultError> {
        let keys = self.keys()?;
        let mut out = StoredChunks::default();
        let listed = self.store.list(&recording_prefix(recording_id))?;
        let chunks: Vec<_> = listed.iter().filter(|o| o.key.ends_with(".vrec")).collect();
        for (i, info) in chunks.iter().enumerate() {
            let want = crate::manifest::chunk_key(recording_id, i as u32);
            if info.key != want {
                out.problems
                    .push(format!("chunk {i} is missing (next stored: {})", info.key));
                break;
            }
            if out.final_seen {
                out.problems
                    .push(format!("{} comes after the final chunk", info.key));
                break;
            }
            let data = self.store.get(&info.key, None)?;
            match decrypt_chunk(keys, &data, recording_id, i as u32) {
                Ok((header, plain)) => {
                    out.plaintext.extend_from_slice(&plain);
                    out.chunks += 1;
                    out.final_seen = header.final_chunk;
                }
                Err(e) => {
                    out.problems.push(format!("chunk {i} ({}): {e}", info.key));
                    break;
                }
            }
        }
        Ok(out)
    }
}

fn temp_beside(out: &Path) -> Result<PathBuf, VaultError> {
    let name = out
        .file_name()
        .ok_or_else(|| VaultError::Invalid(format!("{} has no file name", out.display())))?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".tmp-{}", std::process::id()));
    Ok(out.with_file_name(tmp))
}

/// The Ogg bytes of a recording, decrypted chunk by chunk (see the module docs).
pub struct ChunkReader<'a> {
    store: &'a dyn RecordingStore,
    keys: &'a dyn KeyProvider,
    recording_id: String,
    objects: Vec<ManifestObject>,
    next: usize,
    buf: Vec<u8>,
    pos: usize,
}

impl ChunkReader<'_> {
    fn load(&mut self, position: usize) -> Result<Vec<u8>, VaultError> {
        let obj = &self.objects[position];
        let fail = |what: String| {
            VaultError::Invalid(format!("chunk {} ({}): {what}", obj.index, obj.key))
        };
        if obj.index as usize != position {
            return Err(fail(format!(
                "listed at position {position} of the manifest"
            )));
        }
        let data = self
            .store
            .get(&obj.key, obj.version_id.as_deref())
            .map_err(|e| fail(e.to_string()))?;
        if data.len() as u64 != obj.size || sha256_hex(&data) != obj.sha256 {
            return Err(fail(
                "content differs from the manifest (size or sha256)".into(),
            ));
        }
        let (header, plain) = decrypt_chunk(self.keys, &data, &self.recording_id, obj.index)
            .map_err(|e| fail(e.to_string()))?;
        if header.final_chunk != obj.final_chunk {
            return Err(fail("its final flag differs from the manifest".into()));
        }
        Ok(plain)
    }
}

impl Read for ChunkReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.buf.len() {
            if self.next >= self.objects.len() {
                return Ok(0);
            }
            self.buf = self.load(self.next).map_err(io::Error::other)?;
            self.pos = 0;
            self.next += 1;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
