//! One queue, two `vidid serve` processes on one PostgreSQL (issue 4): customers join through
//! either process and watch their place on the other's queue socket; agents on both take at
//! the same time; a customer whose connection drops comes back on the other process within
//! the grace period and keeps the place.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails where it unwraps"
)]

use std::collections::HashSet;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use vidid_cases::testing::Postgres;
use vidid_e2e::journey::{OPEN_HOURS, QueuedCustomer, start_server_at};
use vidid_e2e::{Server, ServerOptions, artifacts_dir};

const CUSTOMERS: usize = 24;
const AGENTS: usize = 10;

fn positions(server: &Server, cookie: &str) -> Result<Vec<String>> {
    let (st, v) = server.staff(cookie, "GET", "/api/v1/queue", None)?;
    ensure!(st == 200, "queue: {st} {v}");
    Ok(v["queue"]
        .as_array()
        .context("queue")?
        .iter()
        .filter_map(|p| p["case_id"].as_str().map(String::from))
        .collect())
}

#[test]
fn two_processes_share_one_queue() -> Result<()> {
    let Some(pg) = Postgres::start() else {
        return Ok(());
    };
    let artifacts = artifacts_dir("queue_processes")?;
    let db = pg.database("vidid");
    let env = |name: &str| {
        vec![
            ("VIDID__CASES__STORE__URL".to_string(), db.clone()),
            ("VIDID__CASES__QUEUE__REJOIN_GRACE_SECS".into(), "60".into()),
            (
                "VIDID__CLUSTER__SECRET".into(),
                "queue-processes-secret-0123456789abcdef".into(),
            ),
            ("VIDID__VAULT__DEPLOYMENT_ID".into(), name.into()),
        ]
    };
    let servers = [
        start_server_at(
            OPEN_HOURS,
            ServerOptions {
                env: env("p1"),
                artifacts_dir: Some(artifacts.join("p1")),
                ..ServerOptions::default()
            },
        )?,
        start_server_at(
            OPEN_HOURS,
            ServerOptions {
                env: env("p2"),
                artifacts_dir: Some(artifacts.join("p2")),
                ..ServerOptions::default()
            },
        )?,
    ];
    let other = |i: usize| &servers[(i + 1) % 2];

    // Customers join alternately on either process; each watches on the other one.
    let mut customers: Vec<QueuedCustomer> = Vec::new();
    for i in 0..CUSTOMERS {
        let c = servers[i % 2].queued_customer(&format!("Stranka Številka {i}"), other(i))?;
        ensure!(
            c.joined_position == i as u64 + 1,
            "customer {i} joined at {} (FIFO across processes)",
            c.joined_position
        );
        customers.push(c);
    }
    for (i, c) in customers.iter_mut().enumerate() {
        let v = c.expect("queue", Duration::from_secs(10))?;
        ensure!(v["position"] == i + 1, "customer {i}'s socket: {v}");
    }

    // Agents on both processes take at once: nobody is taken twice.
    let mut cookies = Vec::new();
    for a in 0..AGENTS {
        let s = &servers[a % 2];
        let name = format!("agent{a}");
        let pw = s.add_user(&name, "agent")?;
        let cookie = s.login(&name, &pw)?;
        let (st, v) = s.staff(
            &cookie,
            "PUT",
            "/api/v1/agent/availability",
            Some(json!({"status": "available"})),
        )?;
        ensure!(st == 200, "availability: {st} {v}");
        cookies.push(cookie);
    }
    let before = positions(&servers[0], &cookies[0])?;
    ensure!(
        before == positions(&servers[1], &cookies[1])?,
        "both processes see one queue"
    );
    let taken: Vec<Value> = thread::scope(|scope| {
        let handles: Vec<_> = cookies
            .iter()
            .enumerate()
            .map(|(a, cookie)| {
                let s = &servers[a % 2];
                scope.spawn(move || s.staff(cookie, "POST", "/api/v1/agent/take", None))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("take thread"))
            .map(|r| {
                r.and_then(|(st, v)| {
                    ensure!(st == 200, "take: {st} {v}");
                    Ok(v)
                })
            })
            .collect::<Result<Vec<_>>>()
    })?;
    let ids: HashSet<&str> = taken
        .iter()
        .filter_map(|v| v["case"]["id"].as_str())
        .collect();
    ensure!(
        ids.len() == AGENTS,
        "{} distinct cases for {AGENTS} takes: {ids:?}",
        ids.len()
    );
    let expected: HashSet<&str> = before[..AGENTS].iter().map(String::as_str).collect();
    ensure!(
        ids == expected,
        "the first {AGENTS} in the queue were taken"
    );

    // The rest moved up by AGENTS, the same on both processes and on every socket.
    let rest = positions(&servers[1], &cookies[1])?;
    ensure!(rest == before[AGENTS..], "queue after the takes: {rest:?}");
    for (i, c) in customers.iter_mut().enumerate() {
        if i < AGENTS {
            let v = c.expect("call_ready", Duration::from_secs(10))?;
            ensure!(
                v["call_id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with(&c.case_id)),
                "{v}"
            );
        } else {
            let p = c.latest_position(Duration::from_secs(2))?;
            ensure!(
                p == Some((i - AGENTS + 1) as u64),
                "customer {i} sees {p:?}"
            );
        }
    }

    // A dropped customer comes back on the other process with the rejoin token: same place.
    let k = AGENTS + 3;
    let watched_on = (k + 1) % 2;
    customers[k].drop_socket();
    thread::sleep(Duration::from_secs(2));
    let q = positions(&servers[0], &cookies[0])?;
    ensure!(
        q == before[AGENTS..],
        "a disconnected customer keeps the place: {q:?}"
    );
    let back_on = &servers[(watched_on + 1) % 2];
    customers[k].connect(back_on, true)?;
    let v = customers[k].expect("queue", Duration::from_secs(10))?;
    ensure!(v["position"] == (k - AGENTS + 1), "after rejoining: {v}");
    // Still waiting, not dropped by either process.
    let (st, v) = servers[0].staff(
        &cookies[0],
        "GET",
        &format!("/api/v1/cases/{}", customers[k].case_id),
        None,
    )?;
    ensure!(st == 200 && v["state"] == "queued", "{st} {v}");
    drop(pg);
    Ok(())
}
