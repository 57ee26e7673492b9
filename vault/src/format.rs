//! The encrypted chunk format: one stored object, an independent STREAM ciphertext.
//!
//! See `docs/recording-format.md` for the byte layout; this module is its reference
//! implementation. A chunk is a header followed by segments:
//!
//! - the header names the recording, the chunk's index, whether it is the recording's final
//!   chunk, the KEK id and the wrapped DEK, a fresh 32-byte salt and a fresh 7-byte nonce
//!   prefix;
//! - the chunk key is `HKDF-SHA256(salt, ikm = DEK, info = header bytes)`, so every header
//!   byte is authenticated: change one and no segment authenticates;
//! - segment `i` is AES-256-GCM with nonce `prefix ‖ i (u32 BE) ‖ last (0x00 or 0x01)` and no
//!   associated data; every segment but the last holds exactly `segment_size` plaintext
//!   bytes, the last one 0 to `segment_size` bytes.
//!
//! A reader knows the last segment from the object's length, so truncation (the last segment
//! decrypts only with `last = 1`), reordering (the index is in the nonce) and extension (the
//! old last segment no longer decrypts as a middle one) all fail authentication.

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// The first bytes of every chunk.
pub const MAGIC: &[u8; 8] = b"VIDIDREC";
/// The format version this code writes and reads.
pub const VERSION: u8 = 1;
/// Algorithm 1: AES-256-GCM segments, HKDF-SHA256 chunk key, 7-byte nonce prefix.
pub const ALG_AES256GCM_HKDF_SHA256: u8 = 1;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;
/// Salt length in the header.
pub const SALT_LEN: usize = 32;
/// Nonce prefix length in the header.
pub const NONCE_PREFIX_LEN: usize = 7;
/// DEK length (AES-256).
pub const DEK_LEN: usize = 32;
/// The smallest and largest plaintext segment sizes a writer may choose.
pub const MIN_SEGMENT_SIZE: u32 = 64;
/// See [`MIN_SEGMENT_SIZE`].
pub const MAX_SEGMENT_SIZE: u32 = 16 * 1024 * 1024;
/// Header flag: this chunk is the recording's last.
pub const FLAG_FINAL: u8 = 0x01;
/// Fixed part of the header: magic, version, algorithm, header length, segment size, chunk
/// index, flags.
const FIXED_LEN: usize = 8 + 1 + 1 + 2 + 4 + 4 + 1;

/// A recording's data-encryption key. Zeroed on drop; never printed.
pub struct Dek(pub(crate) Zeroizing<[u8; DEK_LEN]>);

impl Dek {
    /// A fresh random key.
    pub fn generate(rng: &dyn SecureRandom) -> Result<Self, FormatError> {
        let mut key = Zeroizing::new([0u8; DEK_LEN]);
        rng.fill(key.as_mut()).map_err(|_| FormatError::Random)?;
        Ok(Dek(key))
    }

    /// Wrap raw key bytes (from an unwrap).
    pub fn from_bytes(bytes: [u8; DEK_LEN]) -> Self {
        Dek(Zeroizing::new(bytes))
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8; DEK_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for Dek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dek(<redacted>)")
    }
}

/// What goes wrong with a chunk. The messages name the segment where it matters, for
/// `vidid recording verify`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The object does not start with [`MAGIC`].
    #[error("not a vidid chunk (bad magic)")]
    BadMagic,
    /// A version or algorithm this code does not know.
    #[error("unsupported chunk {what} {value}")]
    Unsupported {
        /// `version` or `algorithm`.
        what: &'static str,
        /// The value found.
        value: u8,
    },
    /// The header is cut or its fields are inconsistent.
    #[error("malformed chunk header: {0}")]
    BadHeader(String),
    /// The object ends before its last segment's tag: cut short.
    #[error("truncated: the object ends inside segment {segment} (no complete final segment)")]
    Truncated {
        /// Index of the incomplete segment.
        segment: u32,
    },
    /// A segment's tag does not verify: altered, reordered, or from another chunk.
    #[error("segment {segment} fails authentication (altered, reordered or out of place)")]
    BadTag {
        /// Index of the segment.
        segment: u32,
    },
    /// The last segment authenticates only as a middle segment: data was cut after it.
    #[error(
        "truncated: segment {segment} is a middle segment but the object ends after it (the final segment was cut off)"
    )]
    MissingFinalSegment {
        /// Index of the last segment present.
        segment: u32,
    },
    /// The object goes on after a segment that authenticates as the final one.
    #[error("extra data: {extra} bytes after the final segment {segment}")]
    ExtraData {
        /// Index of the real final segment.
        segment: u32,
        /// Bytes after it.
        extra: u64,
    },
    /// The DEK could not be unwrapped: wrong KEK, or the wrapped key was altered.
    #[error("the data key does not unwrap under KEK {kek_id} (wrong key or altered header)")]
    Unwrap {
        /// The KEK id named in the header.
        kek_id: String,
    },
    /// The system random generator failed.
    #[error("random generator failed")]
    Random,
}

/// A parsed chunk header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkHeader {
    /// Plaintext bytes per non-final segment.
    pub segment_size: u32,
    /// Position of the chunk in its recording, from 0.
    pub chunk_index: u32,
    /// Whether this is the recording's last chunk.
    pub final_chunk: bool,
    /// The recording this chunk belongs to.
    pub recording_id: String,
    /// The key-encryption key that wrapped the DEK.
    pub kek_id: String,
    /// The DEK, wrapped by the KEK (see [`crate::keys`]).
    pub wrapped_dek: Vec<u8>,
    /// HKDF salt, fresh per chunk.
    pub salt: [u8; SALT_LEN],
    /// Nonce prefix, fresh per chunk.
    pub nonce_prefix: [u8; NONCE_PREFIX_LEN],
    /// The header's bytes as stored (the HKDF `info`).
    pub raw: Vec<u8>,
}

impl ChunkHeader {
    /// Parse the header at the start of `data`. Only the header is looked at.
    pub fn parse(data: &[u8]) -> Result<Self, FormatError> {
        if data.len() < 8 || &data[..8] != MAGIC {
            return Err(FormatError::BadMagic);
        }
        if data.len() < FIXED_LEN {
            return Err(FormatError::BadHeader("cut inside the fixed fields".into()));
        }
        if data[8] != VERSION {
            return Err(FormatError::Unsupported {
                what: "version",
                value: data[8],
            });
        }
        if data[9] != ALG_AES256GCM_HKDF_SHA256 {
            return Err(FormatError::Unsupported {
                what: "algorithm",
                value: data[9],
            });
        }
        let header_len = usize::from(u16::from_be_bytes([data[10], data[11]]));
        if data.len() < header_len {
            return Err(FormatError::BadHeader(format!(
                "header length {header_len} but only {} bytes",
                data.len()
            )));
        }
        let segment_size = u32::from_be_bytes([data[12], data[13], data[14], data[15]]);
        if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&segment_size) {
            return Err(FormatError::BadHeader(format!(
                "segment size {segment_size} out of range"
            )));
        }
        let chunk_index = u32::from_be_bytes([data[16], data[17], data[18], data[19]]);
        let flags = data[20];
        if flags & !FLAG_FINAL != 0 {
            return Err(FormatError::BadHeader(format!(
                "unknown flags {flags:#04x}"
            )));
        }
        let mut rest = &data[FIXED_LEN..header_len];
        let mut field = |name: &str| -> Result<Vec<u8>, FormatError> {
            let (&len, tail) = rest
                .split_first()
                .ok_or_else(|| FormatError::BadHeader(format!("cut before {name}")))?;
            let len = usize::from(len);
            if tail.len() < len {
                return Err(FormatError::BadHeader(format!("cut inside {name}")));
            }
            let (value, tail) = tail.split_at(len);
            rest = tail;
            Ok(value.to_vec())
        };
        let recording_id = String::from_utf8(field("recording id")?)
            .map_err(|_| FormatError::BadHeader("recording id is not utf-8".into()))?;
        let kek_id = String::from_utf8(field("kek id")?)
            .map_err(|_| FormatError::BadHeader("kek id is not utf-8".into()))?;
        let wrapped_dek = field("wrapped dek")?;
        if rest.len() != SALT_LEN + NONCE_PREFIX_LEN {
            return Err(FormatError::BadHeader(format!(
                "{} bytes left for salt and nonce prefix, want {}",
                rest.len(),
                SALT_LEN + NONCE_PREFIX_LEN
            )));
        }
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&rest[..SALT_LEN]);
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        nonce_prefix.copy_from_slice(&rest[SALT_LEN..]);
        Ok(ChunkHeader {
            segment_size,
            chunk_index,
            final_chunk: flags & FLAG_FINAL != 0,
            recording_id,
            kek_id,
            wrapped_dek,
            salt,
            nonce_prefix,
            raw: data[..header_len].to_vec(),
        })
    }

    /// The chunk key: `HKDF-SHA256(salt, DEK, info = header)`.
    fn key(&self, dek: &Dek) -> LessSafeKey {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &self.salt).extract(dek.as_bytes());
        let info = [self.raw.as_slice()];
        #[allow(
            clippy::expect_used,
            reason = "the length is the AEAD's, fixed at 32 bytes"
        )]
        let okm = prk
            .expand(&info, &aead::AES_256_GCM)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        LessSafeKey::new(UnboundKey::from(okm))
    }
}

/// What [`seal_chunk`] needs besides the plaintext.
pub struct SealParams<'a> {
    /// The recording.
    pub recording_id: &'a str,
    /// The chunk's index in the recording.
    pub chunk_index: u32,
    /// Whether this is the recording's last chunk.
    pub final_chunk: bool,
    /// Plaintext bytes per segment.
    pub segment_size: u32,
    /// The KEK id and the DEK wrapped under it.
    pub kek_id: &'a str,
    /// See `kek_id`.
    pub wrapped_dek: &'a [u8],
    /// The DEK.
    pub dek: &'a Dek,
}

/// Encrypt one chunk: header, then the plaintext in segments (at least one, the last flagged).
pub fn seal_chunk(
    p: &SealParams<'_>,
    plaintext: &[u8],
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>, FormatError> {
    let mut salt = [0u8; SALT_LEN];
    let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
    rng.fill(&mut salt).map_err(|_| FormatError::Random)?;
    rng.fill(&mut nonce_prefix)
        .map_err(|_| FormatError::Random)?;
    seal_chunk_with(p, plaintext, salt, nonce_prefix)
}

/// [`seal_chunk`] with a given salt and nonce prefix (test vectors only: both must be fresh
/// random values for every chunk).
pub fn seal_chunk_with(
    p: &SealParams<'_>,
    plaintext: &[u8],
    salt: [u8; SALT_LEN],
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
) -> Result<Vec<u8>, FormatError> {
    let bad = |m: String| Err(FormatError::BadHeader(m));
    if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&p.segment_size) {
        return bad(format!("segment size {} out of range", p.segment_size));
    }
    for (name, v) in [
        ("recording id", p.recording_id.as_bytes()),
        ("kek id", p.kek_id.as_bytes()),
        ("wrapped dek", p.wrapped_dek),
    ] {
        if v.len() > 255 {
            return bad(format!("{name} longer than 255 bytes"));
        }
    }

    let header_len = FIXED_LEN
        + 3
        + p.recording_id.len()
        + p.kek_id.len()
        + p.wrapped_dek.len()
        + SALT_LEN
        + NONCE_PREFIX_LEN;
    let seg = p.segment_size as usize;
    let segments = plaintext.len().div_ceil(seg).max(1);
    let mut out = Vec::with_capacity(header_len + plaintext.len() + segments * TAG_LEN);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(ALG_AES256GCM_HKDF_SHA256);
    out.extend_from_slice(&(header_len as u16).to_be_bytes());
    out.extend_from_slice(&p.segment_size.to_be_bytes());
    out.extend_from_slice(&p.chunk_index.to_be_bytes());
    out.push(if p.final_chunk { FLAG_FINAL } else { 0 });
    for v in [
        p.recording_id.as_bytes(),
        p.kek_id.as_bytes(),
        p.wrapped_dek,
    ] {
        out.push(v.len() as u8);
        out.extend_from_slice(v);
    }
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce_prefix);
    debug_assert_eq!(out.len(), header_len);

    let header = ChunkHeader::parse(&out)?;
    let key = header.key(p.dek);
    for i in 0..segments {
        let from = i * seg;
        let to = (from + seg).min(plaintext.len());
        let start = out.len();
        out.extend_from_slice(&plaintext[from..to]);
        let last = i + 1 == segments;
        let tag = key
            .seal_in_place_separate_tag(
                nonce(&nonce_prefix, i as u32, last),
                Aad::empty(),
                &mut out[start..],
            )
            .map_err(|_| FormatError::BadHeader("encryption failed".into()))?;
        out.extend_from_slice(tag.as_ref());
    }
    Ok(out)
}

/// Segment nonce: prefix ‖ index (u32 BE) ‖ last-segment flag.
fn nonce(prefix: &[u8; NONCE_PREFIX_LEN], index: u32, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[..NONCE_PREFIX_LEN].copy_from_slice(prefix);
    n[NONCE_PREFIX_LEN..11].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

/// The segment layout of a chunk body of `body_len` bytes: the number of segments and the
/// ciphertext length of the last one. Fails if the body cannot hold a final segment.
fn layout(body_len: usize, segment_size: u32) -> Result<(u32, usize), FormatError> {
    let full = segment_size as usize + TAG_LEN;
    if body_len == 0 {
        return Err(FormatError::Truncated { segment: 0 });
    }
    let whole = body_len / full;
    let rem = body_len % full;
    if rem == 0 {
        return Ok((whole as u32, full));
    }
    if rem < TAG_LEN {
        return Err(FormatError::Truncated {
            segment: whole as u32,
        });
    }
    Ok((whole as u32 + 1, rem))
}

/// Decrypt a whole chunk. `dek` is the unwrapped key of the header's wrapped DEK. Each
/// segment's plaintext is passed to `sink` as soon as it authenticates, in order; on an error
/// the plaintext passed so far is authentic but incomplete.
pub fn open_chunk(
    data: &[u8],
    header: &ChunkHeader,
    dek: &Dek,
    mut sink: impl FnMut(&[u8]),
) -> Result<ChunkStats, FormatError> {
    let key = header.key(dek);
    let body = &data[header.raw.len()..];
    let full = header.segment_size as usize + TAG_LEN;
    let (count, last_len) = match layout(body.len(), header.segment_size) {
        Ok(l) => l,
        Err(e) => {
            // Cut inside a segment: authenticate what is whole, then report the cut.
            let whole = body.len() / full;
            for i in 0..whole {
                let seg = &body[i * full..(i + 1) * full];
                let plain = open_segment(&key, header, i as u32, false, seg)?;
                sink(&plain);
            }
            return Err(e);
        }
    };
    let mut buf = Vec::with_capacity(full);
    let mut plaintext_bytes = 0u64;
    for i in 0..count {
        let from = i as usize * full;
        let last = i + 1 == count;
        let len = if last { last_len } else { full };
        let seg = &body[from..from + len];
        buf.clear();
        buf.extend_from_slice(seg);
        match open_in_place(&key, header, i, last, &mut buf) {
            Ok(n) => {
                sink(&buf[..n]);
                plaintext_bytes += n as u64;
            }
            Err(e) => {
                // Diagnose. A full-size last segment that authenticates as a middle one: the
                // final segment was cut off. A prefix of this segment that authenticates as
                // the final one: data was appended after the real end.
                if last && len == full {
                    buf.clear();
                    buf.extend_from_slice(seg);
                    if open_in_place(&key, header, i, false, &mut buf).is_ok() {
                        return Err(FormatError::MissingFinalSegment { segment: i });
                    }
                }
                if let Some(n) = final_prefix(&key, header, i, seg, &mut buf) {
                    let end = header.raw.len() + from + n;
                    return Err(FormatError::ExtraData {
                        segment: i,
                        extra: (data.len() - end) as u64,
                    });
                }
                return Err(e);
            }
        }
    }
    Ok(ChunkStats {
        segments: count,
        plaintext_bytes,
    })
}

/// What [`open_chunk`] decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkStats {
    /// Segments in the chunk.
    pub segments: u32,
    /// Plaintext bytes.
    pub plaintext_bytes: u64,
}

/// The length of a prefix of `seg` (shorter than `seg` if it is the last) that
/// authenticates as the final segment `index`, if any. Only run on a failure (it tries
/// every length).
fn final_prefix(
    key: &LessSafeKey,
    header: &ChunkHeader,
    index: u32,
    seg: &[u8],
    buf: &mut Vec<u8>,
) -> Option<usize> {
    (TAG_LEN..=seg.len()).find(|&n| {
        buf.clear();
        buf.extend_from_slice(&seg[..n]);
        open_in_place(key, header, index, true, buf).is_ok()
    })
}

fn open_segment(
    key: &LessSafeKey,
    header: &ChunkHeader,
    index: u32,
    last: bool,
    seg: &[u8],
) -> Result<Vec<u8>, FormatError> {
    let mut buf = seg.to_vec();
    let n = open_in_place(key, header, index, last, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

fn open_in_place(
    key: &LessSafeKey,
    header: &ChunkHeader,
    index: u32,
    last: bool,
    buf: &mut [u8],
) -> Result<usize, FormatError> {
    key.open_in_place(nonce(&header.nonce_prefix, index, last), Aad::empty(), buf)
        .map(|plain| plain.len())
        .map_err(|_| FormatError::BadTag { segment: index })
}

/// The plaintext length of a well-formed chunk of `total_len` bytes, without decrypting.
pub fn plaintext_len(header: &ChunkHeader, total_len: usize) -> Result<u64, FormatError> {
    let body = total_len
        .checked_sub(header.raw.len())
        .ok_or(FormatError::Truncated { segment: 0 })?;
    let (count, _) = layout(body, header.segment_size)?;
    Ok((body - count as usize * TAG_LEN) as u64)
}

/// `n` random bytes as hex (temporary file names and the like; not for keys).
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    // A failing system generator leaves zeros: names only need to differ per process.
    let _ = rng().fill(&mut b);
    hex::encode(b)
}

/// The system random generator, shared.
pub fn rng() -> &'static SystemRandom {
    static RNG: std::sync::OnceLock<SystemRandom> = std::sync::OnceLock::new();
    RNG.get_or_init(SystemRandom::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params<'a>(dek: &'a Dek, index: u32, final_chunk: bool) -> SealParams<'a> {
        SealParams {
            recording_id: "rec-1",
            chunk_index: index,
            final_chunk,
            segment_size: 64,
            kek_id: "kek-test",
            wrapped_dek: &[7u8; 60],
            dek,
        }
    }

    fn open(data: &[u8], dek: &Dek) -> Result<Vec<u8>, FormatError> {
        let header = ChunkHeader::parse(data)?;
        let mut out = Vec::new();
        open_chunk(data, &header, dek, |p| out.extend_from_slice(p))?;
        Ok(out)
    }

    fn seg_offset(data: &[u8], i: usize) -> usize {
        ChunkHeader::parse(data).unwrap().raw.len() + i * (64 + TAG_LEN)
    }

    #[test]
    fn round_trips_every_length() {
        let dek = Dek::generate(rng()).unwrap();
        for len in [0usize, 1, 63, 64, 65, 128, 200] {
            let plain: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let sealed = seal_chunk(&params(&dek, 3, len == 0), &plain, rng()).unwrap();
            let header = ChunkHeader::parse(&sealed).unwrap();
            assert_eq!(header.chunk_index, 3);
            assert_eq!(header.final_chunk, len == 0);
            assert_eq!(header.recording_id, "rec-1");
            assert_eq!(plaintext_len(&header, sealed.len()).unwrap(), len as u64);
            assert_eq!(open(&sealed, &dek).unwrap(), plain, "len {len}");
        }
    }

    #[test]
    fn fresh_salt_and_prefix_per_chunk() {
        let dek = Dek::generate(rng()).unwrap();
        let a = seal_chunk(&params(&dek, 0, false), b"same", rng()).unwrap();
        let b = seal_chunk(&params(&dek, 0, false), b"same", rng()).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn every_header_byte_is_authenticated() {
        let dek = Dek::generate(rng()).unwrap();
        let sealed = seal_chunk(&params(&dek, 1, false), &[5u8; 100], rng()).unwrap();
        let header_len = ChunkHeader::parse(&sealed).unwrap().raw.len();
        for i in 0..header_len {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(
                open(&bad, &dek).is_err(),
                "header byte {i} flipped still opens"
            );
        }
    }

    #[test]
    fn flipped_swapped_dropped_truncated_and_extended_segments_are_named() {
        let dek = Dek::generate(rng()).unwrap();
        let plain: Vec<u8> = (0..64 * 3 + 10).map(|i| i as u8).collect();
        let sealed = seal_chunk(&params(&dek, 0, true), &plain, rng()).unwrap();
        let full = 64 + TAG_LEN;

        let mut flipped = sealed.clone();
        flipped[seg_offset(&sealed, 1) + 5] ^= 0x80;
        assert_eq!(
            open(&flipped, &dek),
            Err(FormatError::BadTag { segment: 1 })
        );

        let mut swapped = sealed.clone();
        let (a, b) = (seg_offset(&sealed, 0), seg_offset(&sealed, 1));
        let seg0 = sealed[a..a + full].to_vec();
        swapped.copy_within(b..b + full, a);
        swapped[b..b + full].copy_from_slice(&seg0);
        assert_eq!(
            open(&swapped, &dek),
            Err(FormatError::BadTag { segment: 0 })
        );

        let mut dropped = sealed.clone();
        dropped.drain(a..a + full);
        assert_eq!(
            open(&dropped, &dek),
            Err(FormatError::BadTag { segment: 0 })
        );

        // Cut right after a full middle segment: it authenticates only as a middle one.
        let cut = sealed[..seg_offset(&sealed, 2)].to_vec();
        assert_eq!(
            open(&cut, &dek),
            Err(FormatError::MissingFinalSegment { segment: 1 })
        );
        // Cut inside a tag.
        let cut = sealed[..seg_offset(&sealed, 2) + 5].to_vec();
        assert_eq!(open(&cut, &dek), Err(FormatError::Truncated { segment: 2 }));
        // Data after the final segment.
        let exact = seal_chunk(&params(&dek, 0, true), &[1u8; 64], rng()).unwrap();
        let mut extended = exact.clone();
        extended.extend_from_slice(&[0u8; 40]);
        assert_eq!(
            open(&extended, &dek),
            Err(FormatError::ExtraData {
                segment: 0,
                extra: 40
            })
        );
        let short = seal_chunk(&params(&dek, 0, true), &[1u8; 70], rng()).unwrap();
        let mut extended = short.clone();
        extended.extend_from_slice(&[0u8; 3]);
        assert_eq!(
            open(&extended, &dek),
            Err(FormatError::ExtraData {
                segment: 1,
                extra: 3
            })
        );
    }

    #[test]
    fn a_segment_from_another_chunk_does_not_authenticate() {
        let dek = Dek::generate(rng()).unwrap();
        let a = seal_chunk(&params(&dek, 0, false), &[1u8; 128], rng()).unwrap();
        let b = seal_chunk(&params(&dek, 1, false), &[1u8; 128], rng()).unwrap();
        let mut mixed = a.clone();
        let off = seg_offset(&a, 0);
        mixed[off..off + 80].copy_from_slice(&b[seg_offset(&b, 0)..seg_offset(&b, 0) + 80]);
        assert_eq!(open(&mixed, &dek), Err(FormatError::BadTag { segment: 0 }));
    }

    /// The test vector of `docs/recording-format.md` ("Test vector").
    #[test]
    fn test_vector() {
        let dek = Dek::from_bytes(std::array::from_fn(|i| i as u8));
        let wrapped: Vec<u8> = (0..60u8).map(|i| 0xa0 ^ i).collect();
        let p = SealParams {
            recording_id: "rec-1",
            chunk_index: 2,
            final_chunk: true,
            segment_size: 64,
            kek_id: "kek-1",
            wrapped_dek: &wrapped,
            dek: &dek,
        };
        let plain: Vec<u8> = (0..100u8).collect();
        let sealed =
            seal_chunk_with(&p, &plain, [0x11; SALT_LEN], [0x22; NONCE_PREFIX_LEN]).unwrap();
        assert_eq!(hex::encode(&sealed), TEST_VECTOR_HEX);
        assert_eq!(open(&sealed, &dek).unwrap(), plain);
    }

    const TEST_VECTOR_HEX: &str = "564944494452454301010085000000400000000201057265632d31056b656b2d313ca0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf808182838485868788898a8b8c8d8e8f909192939495969798999a9b11111111111111111111111111111111111111111111111111111111111111112222222222222216751ea1212595ae86413396228d1e842757c64c9fd6a267b036aadb447645e8489480d473a6101f1f74a5689b116c4a8c694264721c6cbf8320193951ccbf937d372e787fe7f63ea89dc3010f3ac8d86eb4f49de43be79f702ec3729bd07bb30056b2f4104e4cff1e4b40746dcd845a9789204192511d8bca2c985a492e9b5163e3a1ce";

    #[test]
    fn wrong_dek_fails_on_the_first_segment() {
        let dek = Dek::generate(rng()).unwrap();
        let other = Dek::generate(rng()).unwrap();
        let sealed = seal_chunk(&params(&dek, 0, true), b"hello", rng()).unwrap();
        assert_eq!(
            open(&sealed, &other),
            Err(FormatError::BadTag { segment: 0 })
        );
    }
}
