//! The vault against a real S3 server with Object Lock (SeaweedFS on loopback): the start-up
//! lock check, chunks appearing during the call, COMPLIANCE retention ~20 years out, tags,
//! and the server refusing deletes, overwrites and shortening through the S3 API.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails where it unwraps"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ObjectLockRetention, ObjectLockRetentionMode};
use common::{Call, Harness, assert_tones, test_config};
use time::OffsetDateTime;
use vidid_recorder::ExportOptions;
use vidid_vault::keys::FileKeys;
use vidid_vault::manifest::{chunk_key, manifest_key};
use vidid_vault::store::{RecordingStore, S3Store, StoreError};
use vidid_vault::testing::{SeaweedFs, skip_s3};
use vidid_vault::verify::{Level, Verdict, VerifyOptions};
use vidid_vault::{StoreKind, Vault, VaultConfig, VaultError};

fn s3_config(weed: &SeaweedFs, bucket: &str) -> VaultConfig {
    VaultConfig {
        store: StoreKind::S3,
        s3: weed.s3_config(bucket),
        ..test_config()
    }
}

fn dbg_err<E: std::error::Error + 'static>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> String {
    format!("{}", aws_sdk_s3::error::DisplayErrorContext(e))
}

#[test]
fn s3_bucket_checks_and_a_locked_recording() {
    if skip_s3("s3_bucket_checks_and_a_locked_recording") {
        return;
    }
    let weed = SeaweedFs::start().expect("SeaweedFS starts");
    let tmp = tempfile::tempdir().unwrap();

    // A bucket without Object Lock: the vault refuses to start and says why.
    weed.create_plain_bucket("plain").unwrap();
    let err = Vault::open(&s3_config(&weed, "plain"), tmp.path()).unwrap_err();
    assert!(
        matches!(err, VaultError::Store(StoreError::Misconfigured(_))),
        "{err}"
    );
    assert!(err.to_string().contains("Object Lock"), "{err}");
    let err = Vault::open(&s3_config(&weed, "missing"), tmp.path()).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");

    weed.create_locked_bucket("rec", 1).unwrap();
    let cfg = s3_config(&weed, "rec");
    let h = Harness::open(tmp.path(), cfg.clone());
    let mut call = Call::start(&h.sink, "call-s3");
    call.run_for(2.5);
    // Chunks are in the bucket while the call runs.
    let during = h.vault.store().list("recordings/call-s3/").unwrap();
    assert!(
        during.iter().filter(|o| o.key.ends_with(".vrec")).count() >= 1,
        "no chunk in the bucket during the call: {during:?}"
    );
    assert!(!during.iter().any(|o| o.key == manifest_key("call-s3")));
    call.run_for(1.0);
    call.recorder.finish().unwrap();

    let archive = h.archive();
    let report = archive.verify("call-s3", VerifyOptions::default());
    assert_eq!(report.verdict, Verdict::Verified, "{}", report.to_text());
    let m = archive.manifest("call-s3").unwrap().manifest;
    assert!(
        m.objects.iter().all(|o| o.version_id.is_some()),
        "{:?}",
        m.objects
    );
    let wav = tmp.path().join("s3.wav");
    archive
        .export_wav("call-s3", &wav, &ExportOptions::default())
        .unwrap();
    assert_tones(&wav);

    // Straight through the S3 API, as an administrator or attacker would.
    let s3 = S3Store::new(&weed.s3_config("rec")).unwrap();
    let c = s3.client();
    let key = chunk_key("call-s3", 1);
    let version = m.objects[1].version_id.clone().unwrap();
    let ret = s3
        .block_on(
            c.get_object_retention()
                .bucket("rec")
                .key(&key)
                .version_id(&version)
                .send(),
        )
        .unwrap();
    let ret = ret.retention().unwrap();
    assert_eq!(ret.mode(), Some(&ObjectLockRetentionMode::Compliance));
    let until = ret.retain_until_date().unwrap().secs();
    let years = (until - OffsetDateTime::now_utc().unix_timestamp()) as f64 / (365.25 * 86_400.0);
    assert!((19.99..20.02).contains(&years), "retained {years} years");
    let tags = s3
        .block_on(c.get_object_tagging().bucket("rec").key(&key).send())
        .unwrap();
    let tags: Vec<(String, String)> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    for want in ["case-id", "legal-basis", "retention-class"] {
        assert!(
            tags.iter().any(|(k, _)| k == want),
            "tag {want} missing: {tags:?}"
        );
    }
    assert!(
        tags.contains(&("case-id".into(), "call-s3".into())),
        "{tags:?}"
    );

    // Deleting the locked version is refused.
    let del = s3.block_on(
        c.delete_object()
            .bucket("rec")
            .key(&key)
            .version_id(&version)
            .send(),
    );
    assert!(del.is_err(), "deleting a locked version succeeded");
    let del = s3.block_on(
        c.delete_object()
            .bucket("rec")
            .key(&key)
            .version_id(&version)
            .bypass_governance_retention(true)
            .send(),
    );
    assert!(del.is_err(), "deleting with bypass-governance succeeded");
    // The store's own delete says why.
    let err = s3.delete(&key, Some(&version)).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    // Shortening the retention is refused.
    let short = s3.block_on(
        c.put_object_retention()
            .bucket("rec")
            .key(&key)
            .version_id(&version)
            .retention(
                ObjectLockRetention::builder()
                    .mode(ObjectLockRetentionMode::Compliance)
                    .retain_until_date(DateTime::from_secs(
                        OffsetDateTime::now_utc().unix_timestamp() + 86_400,
                    ))
                    .build(),
            )
            .send(),
    );
    assert!(short.is_err(), "shortening the retention succeeded");
    // Downgrading to GOVERNANCE is refused.
    let down = s3.block_on(
        c.put_object_retention()
            .bucket("rec")
            .key(&key)
            .version_id(&version)
            .retention(
                ObjectLockRetention::builder()
                    .mode(ObjectLockRetentionMode::Governance)
                    .retain_until_date(DateTime::from_secs(until + 86_400))
                    .build(),
            )
            .send(),
    );
    assert!(down.is_err(), "downgrading to GOVERNANCE succeeded");
    // Writing the key again does not replace the locked version: it stays, byte for byte.
    let overwrite = s3.block_on(
        c.put_object()
            .bucket("rec")
            .key(&key)
            .body(ByteStream::from_static(b"forged"))
            .send(),
    );
    eprintln!(
        "overwrite attempt: {}",
        match &overwrite {
            Ok(o) => format!("accepted as version {:?}", o.version_id()),
            Err(e) => format!("refused: {}", dbg_err(e)),
        }
    );
    // The vault's own writes are create-only: a second put of the key is refused.
    let again = s3.put(
        &key,
        b"forged",
        &vidid_vault::store::PutOptions {
            retain_until: OffsetDateTime::now_utc() + Duration::from_secs(86_400),
            tags: vec![],
            sha256: [0; 32],
            content_type: "application/octet-stream",
        },
    );
    eprintln!("vault put of an existing key: {again:?}");
    assert!(again.is_err(), "a vault put replaced an existing key");
    // The locked version still holds the signed bytes.
    let original = s3.get(&key, Some(&version)).unwrap();
    assert_eq!(
        vidid_vault::manifest::sha256_hex(&original),
        m.objects[1].sha256
    );
    // A plain delete at most hides it behind a delete marker.
    let _ = s3.block_on(
        c.delete_object()
            .bucket("rec")
            .key(chunk_key("call-s3", 0))
            .send(),
    );
    let report = archive.verify("call-s3", VerifyOptions::default());
    assert_eq!(report.verdict, Verdict::Verified, "{}", report.to_text());
    if overwrite.is_ok() {
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.level == Level::Warn && f.message.contains("versions")),
            "{}",
            report.to_text()
        );
    }

    // A restart finds the chain head in the bucket and continues it.
    drop(h);
    let h = Harness::open(tmp.path(), cfg.clone());
    let mut call = Call::start(&h.sink, "call-s3-b");
    call.run_for(1.2);
    call.recorder.finish().unwrap();
    let m2 = h.archive().manifest("call-s3-b").unwrap().manifest;
    assert_eq!(m2.chain.seq, 2);
    let report = h.archive().verify("call-s3-b", VerifyOptions::default());
    assert_eq!(report.verdict, Verdict::Verified, "{}", report.to_text());
}

#[test]
fn an_s3_outage_mid_call_is_ridden_out() {
    if skip_s3("an_s3_outage_mid_call_is_ridden_out") {
        return;
    }
    let mut weed = SeaweedFs::start().expect("SeaweedFS starts");
    weed.create_locked_bucket("rec", 1).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = VaultConfig {
        finish_wait_secs: 2,
        ..s3_config(&weed, "rec")
    };
    let h = Harness::open(tmp.path(), cfg);
    let mut call = Call::start(&h.sink, "call-out");
    call.run_for(1.5);
    weed.stop();
    call.run_for(4.0);
    assert!(h.vault.stats().snapshot().spool_chunks >= 2);
    weed.restart().expect("SeaweedFS restarts");
    call.run_for(1.5);
    call.recorder.finish().unwrap();
    assert!(
        h.vault.wait_idle(Duration::from_secs(30)),
        "uploads did not drain"
    );
    let report = h.archive().verify("call-out", VerifyOptions::default());
    assert_eq!(report.verdict, Verdict::Verified, "{}", report.to_text());
    let wav = tmp.path().join("out.wav");
    h.archive()
        .export_wav("call-out", &wav, &ExportOptions::default())
        .unwrap();
    let secs = assert_tones(&wav);
    assert!(
        secs >= 6.8,
        "audio of the outage is missing: {secs} s of 7 s"
    );
    let keys = Arc::new(FileKeys::open(tmp.path().join("keys")).unwrap());
    assert!(!keys.kek_ids().unwrap().is_empty());
}
