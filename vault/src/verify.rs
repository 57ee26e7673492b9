//! `vidid recording verify`: every check, and exactly what failed.
//!
//! Checks, in order: the manifest parses and names the recording; its Ed25519 signature
//! verifies under the deployment's key (a trusted key given by the auditor, else the key
//! published in the store and/or the local key directory, which must agree); the chain: the
//! link object at the manifest's position names it, the previous link's manifest hash is the
//! manifest's `prev_manifest_sha256` (and that manifest hashes to it), the next link (if
//! any) names this manifest as its previous; retention: the manifest promises at least
//! `end + years`, every object (chunks, manifest, chain link) carries COMPLIANCE retention
//! until at least that date and the recording's tags; every listed chunk exists (the exact
//! version), has the listed size and SHA-256 (a mismatch says whether the object is cut,
//! extended, or holds another chunk's bytes: swapped); with the keys, every chunk's header
//! names its recording and place, and every segment authenticates (the message names the
//! segment: bad tag, truncated, extra data after the final segment); the last chunk, and only
//! it, is final when the recording is complete; nothing else is stored under the recording's
//! prefix; the decrypted bytes are a well-formed Ogg Opus recording.
//!
//! A recording whose checks all pass but whose manifest says `complete: false` (its server
//! died mid-call, and the restart closed it) is [`Verdict::Incomplete`]: authentic, not
//! tampered. So is a recording without manifest whose stored chunks all authenticate
//! (never closed), though it carries no signature.

use std::collections::{BTreeMap, HashMap};

use time::OffsetDateTime;

use crate::engine::add_years;
use crate::manifest::{
    ChainLinkRecord, GENESIS, SignedManifest, chain_key, chunk_key, manifest_key, parse_manifest,
    recording_prefix, sha256_hex,
};
use crate::read::{Archive, decrypt_chunk};
use crate::store::{COMPLIANCE, StoreError, rfc3339};

/// The outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every check passed and the recording is complete.
    Verified,
    /// Every check passed, but the recording is incomplete (its server died, or it was never
    /// closed): authentic, not tampered.
    Incomplete,
    /// At least one check failed.
    Failed,
}

impl Verdict {
    /// The exit code of `vidid recording verify`: 0 verified, 1 failed, 3 incomplete (2 is
    /// the usage-error code of the command line parser).
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Verified => 0,
            Verdict::Failed => 1,
            Verdict::Incomplete => 3,
        }
    }
}

/// How bad one finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// A check passed.
    Ok,
    /// Worth knowing; does not fail the recording.
    Warn,
    /// A check was skipped (on request or for lack of keys).
    Skipped,
    /// A check failed.
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// How bad.
    pub level: Level,
    /// What it is about (`manifest`, `signature`, `chain`, `chunk 3`, …).
    pub subject: String,
    /// What was found.
    pub message: String,
}

/// What `verify` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    /// The recording.
    pub recording_id: String,
    /// The store it was read from.
    pub store: String,
    /// The manifest's hash, if there is a manifest.
    pub manifest_sha256: Option<String>,
    /// Every finding, in the order checked.
    pub findings: Vec<Finding>,
    /// The outcome.
    pub verdict: Verdict,
}

impl VerifyReport {
    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.level == Level::Fail)
    }

    /// A readable report, one finding per line, the verdict last.
    pub fn to_text(&self) -> String {
        let mut out = format!("recording {} in {}\n", self.recording_id, self.store);
        for f in &self.findings {
            let tag = match f.level {
                Level::Ok => "ok  ",
                Level::Warn => "WARN",
                Level::Skipped => "skip",
                Level::Fail => "FAIL",
            };
            out.push_str(&format!("  {tag}  {}: {}\n", f.subject, f.message));
        }
        let fails = self.failures().count();
        out.push_str(&match self.verdict {
            Verdict::Verified => "VERIFIED: complete, authentic, locked\n".to_owned(),
            Verdict::Incomplete => {
                "INCOMPLETE: what is stored is authentic and locked, but the recording is not complete (see above)\n".to_owned()
            }
            Verdict::Failed => format!("FAILED: {fails} check(s) failed (see FAIL above)\n"),
        });
        out
    }
}

/// What to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Check retention and tags (off for a bare copy of a recording's files).
    pub retention: bool,
    /// Decrypt every segment (needs the KEK); off = hashes and signatures only.
    pub decrypt: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            retention: true,
            decrypt: true,
        }
    }
}

struct Report {
    findings: Vec<Finding>,
}

impl Report {
    fn push(&mut self, level: Level, subject: impl Into<String>, message: impl Into<String>) {
        self.findings.push(Finding {
            level,
            subject: subject.into(),
            message: message.into(),
        });
    }
    fn ok(&mut self, s: impl Into<String>, m: impl Into<String>) {
        self.push(Level::Ok, s, m);
    }
    fn fail(&mut self, s: impl Into<String>, m: impl Into<String>) {
        self.push(Level::Fail, s, m);
    }
    fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.level == Level::Fail)
    }
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

impl Archive {
    /// Verify a recording (see the module docs).
    pub fn verify(&self, recording_id: &str, opts: VerifyOptions) -> VerifyReport {
        let mut r = Report {
            findings: Vec::new(),
        };
        let (manifest_sha256, complete) = self.verify_into(recording_id, opts, &mut r);
        let verdict = if r.failed() {
            Verdict::Failed
        } else if complete {
            Verdict::Verified
        } else {
            Verdict::Incomplete
        };
        VerifyReport {
            recording_id: recording_id.to_owned(),
            store: self.store.describe(),
            manifest_sha256,
            findings: r.findings,
            verdict,
        }
    }

    /// Returns the manifest hash and whether the recording claims to be complete.
    fn verify_into(&self, id: &str, opts: VerifyOptions, r: &mut Report) -> (Option<String>, bool) {
        let mkey = manifest_key(id);
        let bytes = match self.store.get(&mkey, None) {
            Ok(b) => b,
            Err(StoreError::NotFound(_)) => {
                self.verify_unclosed(id, opts, r);
                return (None, false);
            }
            Err(e) => {
                r.fail("manifest", format!("cannot read {mkey}: {e}"));
                return (None, false);
            }
        };
        let signed = match parse_manifest(&bytes) {
            Ok(s) => s,
            Err(e) => {
                r.fail("manifest", e.to_string());
                return (None, false);
            }
        };
        let m = &signed.manifest;
        if m.recording_id != id {
            r.fail(
                "manifest",
                format!("names recording {:?}, not {id:?}", m.recording_id),
            );
        } else {
            r.ok(
                "manifest",
                format!(
                    "sha256 {}; call {}, case {}, started {}, ended {}, {} chunk(s), {}",
                    signed.sha256,
                    m.call_id,
                    m.case_id,
                    m.started_at,
                    m.ended_at.as_deref().unwrap_or("never (the server died)"),
                    m.objects.len(),
                    if m.complete {
                        "complete".to_owned()
                    } else {
                        format!(
                            "INCOMPLETE: {}",
                            m.incomplete_reason.as_deref().unwrap_or("no reason given")
                        )
                    }
                ),
            );
        }
        match self.public_key_for(&signed.signature) {
            Ok((pk, source)) => {
                if signed.signature_valid(&pk) {
                    r.ok("signature", format!("Ed25519 signature valid ({source})"));
                } else {
                    r.fail(
                        "signature",
                        format!(
                            "bad signature: the manifest was altered or not signed by {source}"
                        ),
                    );
                }
            }
            Err(e) => r.fail("signature", e),
        }
        if signed.signature.key_id != m.signing_key_id {
            r.fail(
                "signature",
                format!(
                    "made with key {} but the manifest names {}",
                    signed.signature.key_id, m.signing_key_id
                ),
            );
        }
        self.verify_chain(&signed, r);
        let links = [mkey.clone(), chain_key(&m.deployment_id, m.chain.seq)];
        if opts.retention {
            self.verify_retention(&signed, &links, r);
        } else {
            r.push(
                Level::Skipped,
                "retention",
                "retention and tags not checked (--skip-retention)",
            );
        }
        self.verify_objects(id, &signed, opts, r);
        (Some(signed.sha256.clone()), m.complete)
    }

    fn verify_chain(&self, signed: &SignedManifest, r: &mut Report) {
        let m = &signed.manifest;
        let dep = &m.deployment_id;
        let seq = m.chain.seq;
        if seq == 0 {
            r.fail("chain", "position 0 is not a valid chain position");
            return;
        }
        let read_link = |n: u64| -> Result<Option<ChainLinkRecord>, String> {
            match self.store.get(&chain_key(dep, n), None) {
                Ok(b) => serde_json::from_slice(&b)
                    .map(Some)
                    .map_err(|e| format!("chain link {n} is malformed: {e}")),
                Err(StoreError::NotFound(_)) => Ok(None),
                Err(e) => Err(format!("cannot read chain link {n}: {e}")),
            }
        };
        match read_link(seq) {
            Ok(Some(l)) if l.manifest_sha256 == signed.sha256 && l.recording_id == m.recording_id => {
                r.ok("chain", format!("link {seq} of chain {dep} names this manifest"))
            }
            Ok(Some(l)) => r.fail(
                "chain",
                format!(
                    "link {seq} of chain {dep} names recording {} with manifest sha256 {}, not this one",
                    l.recording_id, l.manifest_sha256
                ),
            ),
            Ok(None) => r.fail("chain", format!("link {seq} of chain {dep} is missing")),
            Err(e) => r.fail("chain", e),
        }
        if seq == 1 {
            if m.chain.prev_manifest_sha256 == GENESIS {
                r.ok("chain", "first manifest of the deployment (genesis)");
            } else {
                r.fail(
                    "chain",
                    "position 1 but the previous hash is not the genesis value",
                );
            }
        } else {
            match read_link(seq - 1) {
                Ok(Some(prev)) if prev.manifest_sha256 == m.chain.prev_manifest_sha256 => {
                    // The previous manifest itself must hash to what both say.
                    match self
                        .store
                        .get(&prev.manifest_key, None)
                        .map(|b| parse_manifest(&b))
                    {
                        Ok(Ok(p)) if p.sha256 == prev.manifest_sha256 => r.ok(
                            "chain",
                            format!(
                                "previous manifest ({}, link {}) hashes to prev_manifest_sha256",
                                prev.recording_id,
                                seq - 1
                            ),
                        ),
                        Ok(Ok(p)) => r.fail(
                            "chain",
                            format!(
                                "previous manifest {} hashes to {}, not {}",
                                prev.manifest_key, p.sha256, prev.manifest_sha256
                            ),
                        ),
                        Ok(Err(e)) => r.fail("chain", format!("previous manifest: {e}")),
                        Err(e) => r.fail("chain", format!("previous manifest: {e}")),
                    }
                }
                Ok(Some(prev)) => r.fail(
                    "chain",
                    format!(
                        "link {} names manifest sha256 {}, but this manifest's previous is {}",
                        seq - 1,
                        prev.manifest_sha256,
                        m.chain.prev_manifest_sha256
                    ),
                ),
                Ok(None) => r.fail("chain", format!("link {} is missing", seq - 1)),
                Err(e) => r.fail("chain", e),
            }
        }
        match read_link(seq + 1) {
            Ok(Some(next)) if next.prev_manifest_sha256 == signed.sha256 => r.ok(
                "chain",
                format!(
                    "next link {} ({}) names this manifest as its previous",
                    seq + 1,
                    next.recording_id
                ),
            ),
            Ok(Some(next)) => r.fail(
                "chain",
                format!(
                    "next link {} names {} as its previous, not this manifest",
                    seq + 1,
                    next.prev_manifest_sha256
                ),
            ),
            Ok(None) => r.ok("chain", "this is the head of the chain"),
            Err(e) => r.fail("chain", e),
        }
    }

    fn verify_retention(&self, signed: &SignedManifest, extra: &[String], r: &mut Report) {
        let m = &signed.manifest;
        let Some(until) = parse_time(&m.retention.retain_until) else {
            r.fail("retention", "the manifest's retain_until is not a date");
            return;
        };
        if m.retention.mode != COMPLIANCE {
            r.fail(
                "retention",
                format!("mode {} is not COMPLIANCE", m.retention.mode),
            );
        }
        let end = m
            .ended_at
            .as_deref()
            .and_then(parse_time)
            .or_else(|| m.objects.last().and_then(|o| parse_time(&o.sealed_at)))
            .or_else(|| parse_time(&m.closed_at));
        match end {
            Some(end) if until >= add_years(end, m.retention.years) => r.ok(
                "retention",
                format!(
                    "COMPLIANCE until {} (≥ end {} + {} years)",
                    m.retention.retain_until,
                    rfc3339(end),
                    m.retention.years
                ),
            ),
            Some(end) => r.fail(
                "retention",
                format!(
                    "retain_until {} is earlier than the end {} + {} years",
                    m.retention.retain_until,
                    rfc3339(end),
                    m.retention.years
                ),
            ),
            None => r.fail("retention", "the manifest has no usable end time"),
        }
        let want_tags: BTreeMap<_, _> = m.retention.tags.clone();
        let mut objects: Vec<(String, Option<String>)> = m
            .objects
            .iter()
            .map(|o| (o.key.clone(), o.version_id.clone()))
            .collect();
        objects.extend(extra.iter().map(|k| (k.clone(), None)));
        let mut bad = 0;
        for (key, version) in &objects {
            match self.store.retention(key, version.as_deref()) {
                Ok(Some(ret))
                    if ret.mode == COMPLIANCE
                        && ret.retain_until >= until - time::Duration::seconds(1) => {}
                Ok(Some(ret)) => {
                    bad += 1;
                    r.fail(
                        format!("retention of {key}"),
                        format!(
                            "{} until {}, need COMPLIANCE until {}",
                            ret.mode,
                            rfc3339(ret.retain_until),
                            m.retention.retain_until
                        ),
                    )
                }
                Ok(None) => {
                    bad += 1;
                    r.fail(format!("retention of {key}"), "no object lock retention")
                }
                Err(StoreError::NotFound(_)) => {} // reported with the object
                Err(e) => {
                    bad += 1;
                    r.fail(format!("retention of {key}"), e.to_string())
                }
            }
            match self.store.tags(key, version.as_deref()) {
                Ok(tags) => {
                    let got: BTreeMap<String, String> = tags.into_iter().collect();
                    if got != want_tags {
                        bad += 1;
                        r.fail(
                            format!("tags of {key}"),
                            format!("{got:?}, want {want_tags:?}"),
                        );
                    }
                }
                Err(StoreError::NotFound(_)) => {}
                Err(e) => {
                    bad += 1;
                    r.fail(format!("tags of {key}"), e.to_string())
                }
            }
        }
        if bad == 0 {
            r.ok(
                "retention",
                format!(
                    "all {} objects locked COMPLIANCE until ≥ {} with tags {}",
                    objects.len(),
                    m.retention.retain_until,
                    want_tags
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }

    fn verify_objects(
        &self,
        id: &str,
        signed: &SignedManifest,
        opts: VerifyOptions,
        r: &mut Report,
    ) {
        let m = &signed.manifest;
        let by_hash: HashMap<&str, u32> = m
            .objects
            .iter()
            .map(|o| (o.sha256.as_str(), o.index))
            .collect();
        let keys = if opts.decrypt {
            match &self.keys {
                Some(k) => Some(k.as_ref()),
                None => {
                    r.fail(
                        "decryption",
                        "no keys: segment tags cannot be checked (verify with the deployment's key directory, or pass --without-keys to check hashes and signatures only)",
                    );
                    None
                }
            }
        } else {
            r.push(
                Level::Skipped,
                "decryption",
                "segment authentication not checked (--without-keys); hashes and signature only",
            );
            None
        };
        let mut plaintext = Vec::new();
        let mut all_decrypted = keys.is_some();
        let mut ok_chunks = 0usize;
        let last = m.objects.len().saturating_sub(1);
        for (pos, obj) in m.objects.iter().enumerate() {
            let subject = format!("chunk {pos}");
            if obj.index as usize != pos || obj.key != chunk_key(id, obj.index) {
                r.fail(
                    &subject,
                    format!(
                        "the manifest lists {} (index {}) at position {pos}",
                        obj.key, obj.index
                    ),
                );
                all_decrypted = false;
                continue;
            }
            let data = match self.store.get(&obj.key, obj.version_id.as_deref()) {
                Ok(d) => d,
                Err(StoreError::NotFound(_)) => {
                    r.fail(
                        &subject,
                        format!("missing: {} is not in the store (dropped)", obj.key),
                    );
                    all_decrypted = false;
                    continue;
                }
                Err(e) => {
                    r.fail(&subject, format!("cannot read {}: {e}", obj.key));
                    all_decrypted = false;
                    continue;
                }
            };
            let hash = sha256_hex(&data);
            let size = data.len() as u64;
            let mut good = true;
            if hash != obj.sha256 {
                good = false;
                let why = match by_hash.get(hash.as_str()) {
                    Some(&other) => {
                        format!("holds the bytes of chunk {other}: chunks reordered or swapped")
                    }
                    None if size < obj.size => format!("truncated: {size} of {} bytes", obj.size),
                    None if size > obj.size => {
                        format!("extra data: {} bytes more than signed", size - obj.size)
                    }
                    None => "altered: same size, different bytes".to_owned(),
                };
                r.fail(
                    &subject,
                    format!("sha256 differs from the manifest ({why})"),
                );
            }
            match self.store.version_count(&obj.key) {
                Ok(n) if n > 1 => r.push(
                    Level::Warn,
                    &subject,
                    format!("{} has {n} versions: someone wrote the key again; the signed version is the one checked", obj.key),
                ),
                _ => {}
            }
            if let Some(keys) = keys {
                match decrypt_chunk(keys, &data, id, obj.index) {
                    Ok((header, plain)) => {
                        if header.final_chunk != obj.final_chunk {
                            good = false;
                            r.fail(&subject, "its final flag differs from the manifest");
                        }
                        if plain.len() as u64 != obj.plaintext_bytes {
                            good = false;
                            r.fail(
                                &subject,
                                format!(
                                    "{} plaintext bytes, manifest says {}",
                                    plain.len(),
                                    obj.plaintext_bytes
                                ),
                            );
                        }
                        if header.final_chunk && pos != last {
                            good = false;
                            r.fail(
                                &subject,
                                format!("flagged final but {} chunk(s) follow", last - pos),
                            );
                        }
                        plaintext.extend_from_slice(&plain);
                    }
                    Err(e) => {
                        good = false;
                        all_decrypted = false;
                        r.fail(&subject, e.to_string());
                    }
                }
            }
            if good {
                ok_chunks += 1;
            }
        }
        if !m.objects.is_empty() && ok_chunks == m.objects.len() {
            r.ok(
                "chunks",
                format!(
                    "{} chunk(s): present, sizes and sha256 as signed{}",
                    ok_chunks,
                    if keys.is_some() {
                        ", every segment authenticates"
                    } else {
                        ""
                    }
                ),
            );
        }
        if m.complete {
            match m.objects.last() {
                Some(o) if o.final_chunk => {}
                _ => r.fail(
                    "chunks",
                    "the manifest says complete but its last chunk is not final (truncated)",
                ),
            }
        }
        // Nothing else under the recording's prefix.
        match self.store.list(&recording_prefix(id)) {
            Ok(listed) => {
                let known: std::collections::HashSet<&str> =
                    m.objects.iter().map(|o| o.key.as_str()).collect();
                let mkey = manifest_key(id);
                for o in listed {
                    if o.key != mkey && !known.contains(o.key.as_str()) {
                        r.fail(
                            "objects",
                            format!("extra object {} is not in the manifest", o.key),
                        );
                    }
                }
            }
            Err(e) => r.fail(
                "objects",
                format!("cannot list the recording's objects: {e}"),
            ),
        }
        if all_decrypted && !m.objects.is_empty() {
            match vidid_recorder::read_recording_from(&plaintext[..], format!("vault:{id}")) {
                Ok(rec) => {
                    if m.complete && rec.truncated {
                        r.fail(
                            "audio",
                            "the decrypted Ogg stream ends before its end-of-stream pages",
                        );
                    } else {
                        r.ok(
                            "audio",
                            format!(
                                "decrypted Ogg Opus reads: {} bytes, {:.1} s, customer {} / agent {} packets{}",
                                plaintext.len(),
                                rec.end_sample() as f64 / 48_000.0,
                                rec.customer.as_ref().map_or(0, |t| t.packets.len()),
                                rec.agent.as_ref().map_or(0, |t| t.packets.len()),
                                if rec.truncated { " (cut: incomplete recording)" } else { "" }
                            ),
                        );
                    }
                }
                Err(e) => r.fail(
                    "audio",
                    format!("the decrypted bytes are not a well-formed recording: {e}"),
                ),
            }
        }
    }

    /// A recording without a manifest: check what storage holds.
    fn verify_unclosed(&self, id: &str, opts: VerifyOptions, r: &mut Report) {
        let listed = match self.store.list(&recording_prefix(id)) {
            Ok(l) => l,
            Err(e) => {
                r.fail(
                    "objects",
                    format!("cannot list {}: {e}", recording_prefix(id)),
                );
                return;
            }
        };
        if listed.is_empty() {
            r.fail(
                "recording",
                format!("no recording {id} in {}", self.store.describe()),
            );
            return;
        }
        r.push(
            Level::Warn,
            "manifest",
            "no manifest: the recording was never closed (still being stored, or its server died and has not restarted); nothing is signed",
        );
        if !opts.decrypt || self.keys.is_none() {
            r.fail(
                "chunks",
                "without a manifest, only decryption can authenticate the chunks, and no keys were given",
            );
            return;
        }
        match self.stored_chunks(id) {
            Ok(sc) => {
                for p in &sc.problems {
                    r.fail("chunks", p.clone());
                }
                if sc.problems.is_empty() {
                    r.ok(
                        "chunks",
                        format!(
                            "{} chunk(s) contiguous from 0, every segment authenticates{}",
                            sc.chunks,
                            if sc.final_seen {
                                "; the last is final"
                            } else {
                                "; no final chunk (cut off)"
                            }
                        ),
                    );
                }
            }
            Err(e) => r.fail("chunks", e.to_string()),
        }
    }
}
