//! The store scenarios on a real PostgreSQL, started by the test on a temporary directory and a
//! free port. Fails when PostgreSQL cannot be started, unless `VIDID_SKIP_POSTGRES=1`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails where it unwraps"
)]

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store() {
    let Some(pg) = common::Postgres::start() else {
        return;
    };

    let url = pg.database("full_flow");
    let dir = tempfile::tempdir().unwrap();
    common::full_flow(common::connect(&url).await, dir.path()).await;

    let url = pg.database("tamper");
    let dir = tempfile::tempdir().unwrap();
    common::tamper(common::connect(&url).await, &url, dir.path()).await;

    let url = pg.database("users");
    let dir = tempfile::tempdir().unwrap();
    common::users_and_sessions(common::connect(&url).await, dir.path()).await;

    let url = pg.database("queue_rules");
    let dir = tempfile::tempdir().unwrap();
    common::queue_rules(common::connect(&url).await, dir.path()).await;

    // Two processes starting together migrate once, then share one queue.
    let url = pg.database("two_processes");
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = tokio::join!(common::connect(&url), common::connect(&url));
    common::two_processes(a, b, true, dir.path()).await;

    // Scale-out: the node registry, requeue on a node failure, the bus between processes.
    let url = pg.database("cluster");
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = tokio::join!(common::connect(&url), common::connect(&url));
    common::cluster(a, b, dir.path()).await;
}
