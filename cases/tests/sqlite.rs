//! The store scenarios on SQLite (the embedded default), each on a fresh database file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails where it unwraps"
)]

mod common;

use std::sync::Arc;

use vidid_cases::store::default_sqlite_url;

async fn fresh() -> (tempfile::TempDir, String, Arc<dyn vidid_cases::Store>) {
    let dir = tempfile::tempdir().unwrap();
    let url = default_sqlite_url(dir.path());
    let store = common::connect(&url).await;
    (dir, url, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow() {
    let (dir, _, store) = fresh().await;
    common::full_flow(store, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_tampering_is_detected() {
    let (dir, url, store) = fresh().await;
    common::tamper(store, &url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_sessions() {
    let (dir, _, store) = fresh().await;
    common::users_and_sessions(store, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_rules_and_sweeps() {
    let (dir, _, store) = fresh().await;
    common::queue_rules(store, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_store_instances_share_one_queue() {
    let (dir, url, a) = fresh().await;
    let b = common::connect(&url).await;
    common::two_processes(a, b, false, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_once_and_reopen() {
    let (dir, url, store) = fresh().await;
    drop(store);
    // Reopening migrates nothing and keeps the data.
    let again = common::connect(&url).await;
    assert!(again.users().await.unwrap().is_empty());
    let cases = vidid_cases::Cases::open(vidid_cases::CasesConfig::default(), dir.path())
        .await
        .unwrap();
    assert_eq!(cases.store().backend(), vidid_cases::Backend::Sqlite);
    assert!(dir.path().join("vidid.db").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_registry_requeue_and_bus() {
    let (dir, _, store) = fresh().await;
    common::cluster(store.clone(), store, dir.path()).await;
}
