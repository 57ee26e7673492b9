//! The SQL implementation of [`Store`] for SQLite and PostgreSQL; see the module docs of
//! [`crate::store`].
//!
//! Lock order inside a transaction, always: queue row → case row → agent row. With it, two
//! transactions never wait for each other in a cycle (PostgreSQL); SQLite has one writer.

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyConnection, AnyPool, Row, Transaction};
use time::{Duration, OffsetDateTime};
use tokio::sync::broadcast;
use tracing::{debug, warn};

use super::{Backend, Created, Mutation, Store};
use crate::CasesError;
use crate::audit::{AuditEntry, next_entry};
use crate::case::Case;
use crate::clock::{from_micros, to_micros};
use crate::cluster::{BusMsg, CallAssignment, MediaNode};
use crate::flow::{Effects, QueueOp};
use crate::queue::{AgentState, AgentStatus, QueueEntry, QueueEvent};
use crate::users::{Actor, User, new_id};
use crate::vocabulary::{CaseState, ChainHead, Role};
use crate::webhook::{self, WebhookDelivery};

const MIGRATIONS_SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/sqlite/0002_created_index.sql"),
    ),
    (3, include_str!("../../migrations/sqlite/0003_cluster.sql")),
];
const MIGRATIONS_POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/postgres/0002_created_index.sql"),
    ),
    (
        3,
        include_str!("../../migrations/postgres/0003_cluster.sql"),
    ),
];

/// The `NOTIFY` channel of queue changes.
pub const QUEUE_CHANNEL: &str = "vidid_queue";
/// The `NOTIFY` channel of [`BusMsg`]s.
pub const BUS_CHANNEL: &str = "vidid_bus";
const LOCK_MIGRATE: i64 = 0x7669_6469_6401;
const LOCK_QUEUE_JOIN: i64 = 0x7669_6469_6402;

/// A store on SQLite or PostgreSQL.
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    events: broadcast::Sender<QueueEvent>,
    bus: broadcast::Sender<BusMsg>,
    listener: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for SqlStore {
    fn drop(&mut self) {
        if let Some(h) = self.listener.take() {
            h.abort();
        }
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> CasesError {
    CasesError::Corrupt(format!("{what}: {e}"))
}

fn case_from_row(row: &AnyRow) -> Result<Case, CasesError> {
    let body: String = row.try_get("body")?;
    serde_json::from_str(&body).map_err(|e| corrupt("case", e))
}

fn user_from_row(row: &AnyRow) -> Result<User, CasesError> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        role: role.parse::<Role>().map_err(|e| corrupt("user role", e))?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        created_at: from_micros(row.try_get("created_at")?),
        password_hash: row.try_get("password_hash")?,
    })
}

fn entry_from_row(row: &AnyRow) -> Result<QueueEntry, CasesError> {
    Ok(QueueEntry {
        case_id: row.try_get("case_id")?,
        seq: row.try_get("seq")?,
        joined_at: from_micros(row.try_get("joined_at")?),
        disconnected_at: row
            .try_get::<Option<i64>, _>("disconnected_at")?
            .map(from_micros),
        rejoin_hash: row.try_get("rejoin_hash")?,
    })
}

fn agent_from_row(row: &AnyRow) -> Result<AgentState, CasesError> {
    let status: String = row.try_get("status")?;
    Ok(AgentState {
        user_id: row.try_get("user_id")?,
        status: AgentStatus::parse(&status).ok_or_else(|| corrupt("agent status", &status))?,
        case_id: row.try_get("case_id")?,
        since: from_micros(row.try_get("since")?),
    })
}

fn webhook_from_row(row: &AnyRow) -> Result<WebhookDelivery, CasesError> {
    Ok(WebhookDelivery {
        id: row.try_get("id")?,
        case_id: row.try_get("case_id")?,
        event: row.try_get("event")?,
        url: row.try_get("url")?,
        payload: row.try_get("payload")?,
        created_at: from_micros(row.try_get("created_at")?),
        attempts: row.try_get::<i64, _>("attempts")? as u32,
        next_attempt_at: from_micros(row.try_get("next_attempt_at")?),
        delivered_at: row
            .try_get::<Option<i64>, _>("delivered_at")?
            .map(from_micros),
        last_error: row.try_get("last_error")?,
    })
}

fn audit_from_row(row: &AnyRow) -> Result<AuditEntry, CasesError> {
    let role: String = row.try_get("actor_role")?;
    Ok(AuditEntry {
        case_id: row.try_get("case_id")?,
        seq: row.try_get::<i64, _>("seq")? as u64,
        at: from_micros(row.try_get("at")?),
        actor_role: role.parse::<Role>().map_err(|e| corrupt("audit role", e))?,
        actor_id: row.try_get("actor_id")?,
        event: row.try_get("event")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

const CASE_COLS: &str = "body";
const ASSIGNMENT_COLS: &str = "call_id, case_id, node_id, created_at, expires_at, ended_at";

fn assignment_from_row(r: &AnyRow) -> Result<CallAssignment, CasesError> {
    Ok(CallAssignment {
        call_id: r.try_get("call_id")?,
        case_id: r.try_get("case_id")?,
        node_id: r.try_get("node_id")?,
        created_at: from_micros(r.try_get("created_at")?),
        expires_at: from_micros(r.try_get("expires_at")?),
        ended_at: r.try_get::<Option<i64>, _>("ended_at")?.map(from_micros),
    })
}
const ENTRY_COLS: &str = "seq, case_id, joined_at, rejoin_hash, disconnected_at";
const USER_COLS: &str = "id, username, role, password_hash, disabled, created_at";
const WEBHOOK_COLS: &str = "id, case_id, event, url, payload, created_at, attempts, next_attempt_at, delivered_at, last_error";

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl SqlStore {
    /// Connects, runs the migrations, and (PostgreSQL) starts listening for queue changes.
    pub async fn connect(url: &str, max_connections: Option<u32>) -> Result<SqlStore, CasesError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url)?;
        let mut opts = AnyPoolOptions::new()
            .max_connections(max_connections.unwrap_or(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 8,
            }))
            .acquire_timeout(std::time::Duration::from_secs(30));
        if backend == Backend::Sqlite {
            opts = opts.after_connect(|conn, _| {
                Box::pin(async move {
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = FULL",
                        "PRAGMA foreign_keys = ON",
                        "PRAGMA busy_timeout = 15000",
                    ] {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            });
        }
        let pool = opts.connect(url).await?;
        let (events, _) = broadcast::channel(1024);
        let (bus, _) = broadcast::channel(1024);
        let mut store = SqlStore {
            pool,
            backend,
            events,
            bus,
            listener: None,
        };
        store.migrate().await?;
        if backend == Backend::Postgres {
            store.listener = Some(store.listen(url).await?);
        }
        Ok(store)
    }

    async fn listen(&self, url: &str) -> Result<tokio::task::JoinHandle<()>, CasesError> {
        let mut listener = sqlx::postgres::PgListener::connect(url).await?;
        listener.listen_all([QUEUE_CHANNEL, BUS_CHANNEL]).await?;
        let tx = self.events.clone();
        let bus = self.bus.clone();
        Ok(tokio::spawn(async move {
            loop {
                // `recv` reconnects by itself after a lost connection.
                match listener.recv().await {
                    Ok(n) if n.channel() == BUS_CHANNEL => {
                        match serde_json::from_str::<BusMsg>(n.payload()) {
                            Ok(m) => {
                                let _ = bus.send(m);
                            }
                            Err(e) => debug!(error = %e, "ignoring a foreign bus notification"),
                        }
                    }
                    Ok(n) => match serde_json::from_str::<QueueEvent>(n.payload()) {
                        Ok(ev) => {
                            let _ = tx.send(ev);
                        }
                        Err(e) => debug!(error = %e, "ignoring a foreign queue notification"),
                    },
                    Err(e) => {
                        warn!(error = %e, "queue notification listener failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        }))
    }

    async fn begin(&self) -> Result<Transaction<'static, Any>, CasesError> {
        Ok(match self.backend {
            // Take the write lock at once: a deferred transaction that reads and then writes can
            // fail with "database is locked" instead of waiting.
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    async fn advisory_lock(&self, conn: &mut AnyConnection, key: i64) -> Result<(), CasesError> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT count(*) FROM (SELECT pg_advisory_xact_lock($1)) AS l")
                .bind(key)
                .fetch_one(&mut *conn)
                .await?;
        }
        Ok(())
    }

    async fn migrate(&self) -> Result<(), CasesError> {
        let mut tx = self.begin().await?;
        self.advisory_lock(&mut tx, LOCK_MIGRATE).await?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        let applied: Vec<i64> =
            sqlx::query("SELECT version FROM schema_migrations ORDER BY version")
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get::<i64, _>("version"))
                .collect::<Result<_, _>>()?;
        let list = match self.backend {
            Backend::Sqlite => MIGRATIONS_SQLITE,
            Backend::Postgres => MIGRATIONS_POSTGRES,
        };
        let known = list.last().map_or(0, |m| m.0);
        if let Some(v) = applied.iter().find(|v| **v > known) {
            return Err(CasesError::Corrupt(format!(
                "the database schema (version {v}) is newer than this vidid (version {known})"
            )));
        }
        for (version, sql) in list {
            if applied.contains(version) {
                continue;
            }
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(*version)
                .bind(to_micros(OffsetDateTime::now_utc()))
                .execute(&mut *tx)
                .await?;
            debug!(version, "applied migration");
        }
        tx.commit().await?;
        Ok(())
    }

    async fn lock_case(
        &self,
        conn: &mut AnyConnection,
        id: &str,
    ) -> Result<Option<Case>, CasesError> {
        let sql = format!(
            "SELECT {CASE_COLS} FROM cases WHERE id = $1{}",
            self.for_update()
        );
        match sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
        {
            Some(row) => Ok(Some(case_from_row(&row)?)),
            None => Ok(None),
        }
    }

    async fn lock_entry(
        &self,
        conn: &mut AnyConnection,
        case_id: &str,
    ) -> Result<Option<QueueEntry>, CasesError> {
        let sql = format!(
            "SELECT {ENTRY_COLS} FROM queue_entries WHERE case_id = $1{}",
            self.for_update()
        );
        match sqlx::query(&sql)
            .bind(case_id)
            .fetch_optional(&mut *conn)
            .await?
        {
            Some(row) => Ok(Some(entry_from_row(&row)?)),
            None => Ok(None),
        }
    }

    async fn insert_case_row(
        &self,
        conn: &mut AnyConnection,
        case: &Case,
    ) -> Result<(), CasesError> {
        let body = serde_json::to_string(case).map_err(|e| corrupt("case", e))?;
        sqlx::query(
            "INSERT INTO cases (id, state, version, contract_ref, created_at, expires_at, agent_id, is_final, audit_len, audit_head, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&case.id)
        .bind(case.state.as_str())
        .bind(case.version)
        .bind(&case.contract_ref)
        .bind(to_micros(case.created_at))
        .bind(to_micros(case.expires_at))
        .bind(case.agent_id.clone())
        .bind(i64::from(case.is_final()))
        .bind(case.audit.len as i64)
        .bind(&case.audit.hash)
        .bind(body)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn write_case(&self, conn: &mut AnyConnection, case: &Case) -> Result<(), CasesError> {
        let body = serde_json::to_string(case).map_err(|e| corrupt("case", e))?;
        sqlx::query(
            "UPDATE cases SET state = $2, version = $3, agent_id = $4, is_final = $5, audit_len = $6, audit_head = $7, body = $8 \
             WHERE id = $1",
        )
        .bind(&case.id)
        .bind(case.state.as_str())
        .bind(case.version)
        .bind(case.agent_id.clone())
        .bind(i64::from(case.is_final()))
        .bind(case.audit.len as i64)
        .bind(&case.audit.hash)
        .bind(body)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn append_audit(
        &self,
        conn: &mut AnyConnection,
        case: &mut Case,
        events: &[crate::audit::AuditEvent],
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(), CasesError> {
        for ev in events {
            let e = next_entry(&case.id, &case.audit, now, actor, ev)?;
            sqlx::query(
                "INSERT INTO audit_entries (case_id, seq, at, actor_role, actor_id, event, prev_hash, hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&e.case_id)
            .bind(e.seq as i64)
            .bind(to_micros(e.at))
            .bind(e.actor_role.as_str())
            .bind(&e.actor_id)
            .bind(&e.event)
            .bind(&e.prev_hash)
            .bind(&e.hash)
            .execute(&mut *conn)
            .await?;
            case.audit = ChainHead {
                len: e.seq,
                hash: e.hash,
            };
        }
        Ok(())
    }

    /// Queues a notification: PostgreSQL sends it at commit; SQLite's are sent by
    /// [`SqlStore::publish`] after the commit.
    async fn notify(&self, conn: &mut AnyConnection, ev: &QueueEvent) -> Result<(), CasesError> {
        if self.backend == Backend::Postgres {
            let payload = serde_json::to_string(ev).map_err(|e| corrupt("event", e))?;
            sqlx::query("SELECT count(*) FROM (SELECT pg_notify($1, $2)) AS n")
                .bind(QUEUE_CHANNEL)
                .bind(payload)
                .fetch_one(&mut *conn)
                .await?;
        }
        Ok(())
    }

    fn publish(&self, events: Vec<QueueEvent>) {
        if self.backend == Backend::Sqlite {
            for ev in events {
                let _ = self.events.send(ev);
            }
        }
    }

    /// Writes everything a transition returned; the case row last.
    async fn apply(
        &self,
        conn: &mut AnyConnection,
        case: &mut Case,
        fx: Effects,
        actor: &Actor,
        now: OffsetDateTime,
        events: &mut Vec<QueueEvent>,
    ) -> Result<(), CasesError> {
        self.append_audit(conn, case, &fx.audit, actor, now).await?;
        let ev = |kind: &str| QueueEvent {
            kind: kind.to_string(),
            case_id: case.id.clone(),
        };
        match fx.queue {
            None => {}
            Some(QueueOp::Join {
                rejoin_hash,
                max_length,
            }) => {
                self.advisory_lock(conn, LOCK_QUEUE_JOIN).await?;
                let n: i64 = sqlx::query("SELECT count(*) AS n FROM queue_entries")
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get("n")?;
                if n >= i64::from(max_length) {
                    return Err(CasesError::QueueFull { max_length });
                }
                sqlx::query("INSERT INTO queue_entries (case_id, joined_at, rejoin_hash) VALUES ($1, $2, $3)")
                    .bind(&case.id)
                    .bind(to_micros(now))
                    .bind(rejoin_hash)
                    .execute(&mut *conn)
                    .await?;
                events.push(ev("joined"));
            }
            Some(QueueOp::JoinFront { rejoin_hash }) => {
                self.advisory_lock(conn, LOCK_QUEUE_JOIN).await?;
                sqlx::query(
                    "INSERT INTO queue_entries (seq, case_id, joined_at, rejoin_hash) \
                     VALUES ((SELECT COALESCE(MIN(seq), 1) - 1 FROM queue_entries), $1, $2, $3)",
                )
                .bind(&case.id)
                .bind(to_micros(now))
                .bind(rejoin_hash)
                .execute(&mut *conn)
                .await?;
                events.push(ev("joined"));
            }
            Some(QueueOp::Remove) => {
                sqlx::query("DELETE FROM queue_entries WHERE case_id = $1")
                    .bind(&case.id)
                    .execute(&mut *conn)
                    .await?;
                events.push(ev("left"));
            }
            Some(QueueOp::Disconnect { at }) => {
                sqlx::query("UPDATE queue_entries SET disconnected_at = $2 WHERE case_id = $1")
                    .bind(&case.id)
                    .bind(to_micros(at))
                    .execute(&mut *conn)
                    .await?;
                events.push(ev("disconnected"));
            }
            Some(QueueOp::Reconnect) => {
                sqlx::query("UPDATE queue_entries SET disconnected_at = NULL WHERE case_id = $1")
                    .bind(&case.id)
                    .execute(&mut *conn)
                    .await?;
                events.push(ev("rejoined"));
            }
        }
        if let Some(agent) = &fx.agent_freed {
            let sql = format!(
                "SELECT status FROM agents WHERE user_id = $1{}",
                self.for_update()
            );
            sqlx::query(&sql)
                .bind(agent)
                .fetch_optional(&mut *conn)
                .await?;
            sqlx::query(
                "UPDATE agents SET status = 'available', case_id = NULL, since = $3 WHERE user_id = $1 AND case_id = $2",
            )
            .bind(agent)
            .bind(&case.id)
            .bind(to_micros(now))
            .execute(&mut *conn)
            .await?;
            events.push(ev("agent"));
        }
        if let Some((agent, started)) = &fx.handled {
            sqlx::query("INSERT INTO handling_times (case_id, agent_id, started_at, ended_at) VALUES ($1, $2, $3, $4)")
                .bind(&case.id)
                .bind(agent)
                .bind(to_micros(*started))
                .bind(to_micros(now))
                .execute(&mut *conn)
                .await?;
        }
        if fx.webhook
            && let Some(d) = webhook::for_case(case, new_id("wh_"), now)
        {
            sqlx::query(&format!(
                "INSERT INTO webhooks ({WEBHOOK_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL)"
            ))
            .bind(&d.id)
            .bind(&d.case_id)
            .bind(&d.event)
            .bind(&d.url)
            .bind(&d.payload)
            .bind(to_micros(d.created_at))
            .bind(0i64)
            .bind(to_micros(d.next_attempt_at))
            .execute(&mut *conn)
            .await?;
        }
        case.version += 1;
        self.write_case(conn, case).await?;
        for e in events.iter() {
            self.notify(conn, e).await?;
        }
        Ok(())
    }

    async fn add_token(
        &self,
        conn: &mut AnyConnection,
        case_id: &str,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<(), CasesError> {
        sqlx::query(
            "INSERT INTO case_tokens (token_hash, case_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(token_hash)
        .bind(case_id)
        .bind(to_micros(now))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// The replay path of `create_case`: `Ok(None)` when the key is unused.
    async fn replay(
        &self,
        key: &str,
        fingerprint: &str,
        token_hash: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Option<Case>, CasesError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query("SELECT fingerprint, case_id FROM idempotency_keys WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let fp: String = row.try_get("fingerprint")?;
        if fp != fingerprint {
            return Err(CasesError::IdempotencyConflict);
        }
        let case_id: String = row.try_get("case_id")?;
        let mut case = self
            .lock_case(&mut tx, &case_id)
            .await?
            .ok_or(CasesError::NotFound("case"))?;
        self.add_token(&mut tx, &case_id, token_hash, now).await?;
        let mut events = Vec::new();
        let fx = Effects {
            audit: vec![crate::audit::AuditEvent::LinkReissued],
            ..Effects::default()
        };
        self.apply(&mut tx, &mut case, fx, actor, now, &mut events)
            .await?;
        tx.commit().await?;
        Ok(Some(case))
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn create_case(
        &self,
        case: &Case,
        token_hash: &str,
        idempotency: Option<(&str, &str)>,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Created, CasesError> {
        // Two tries: a concurrent request with the same key makes the first insert lose.
        for _ in 0..2 {
            if let Some((key, fp)) = idempotency
                && let Some(c) = self.replay(key, fp, token_hash, actor, now).await?
            {
                return Ok(Created::Replayed(c));
            }
            let mut tx = self.begin().await?;
            let mut case = case.clone();
            self.insert_case_row(&mut tx, &case).await?;
            self.add_token(&mut tx, &case.id, token_hash, now).await?;
            if let Some((key, fp)) = idempotency {
                let r = sqlx::query(
                    "INSERT INTO idempotency_keys (key, fingerprint, case_id, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(key)
                .bind(fp)
                .bind(&case.id)
                .bind(to_micros(now))
                .execute(&mut *tx)
                .await;
                match r {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        tx.rollback().await?;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let fx = Effects {
                audit: vec![crate::audit::AuditEvent::CaseCreated {
                    contract_ref: case.contract_ref.clone(),
                    customer: case.customer.clone(),
                    expires_at: case.expires_at,
                }],
                ..Effects::default()
            };
            self.apply(&mut tx, &mut case, fx, actor, now, &mut Vec::new())
                .await?;
            tx.commit().await?;
            return Ok(Created::New(case));
        }
        Err(CasesError::IdempotencyConflict)
    }

    async fn case(&self, id: &str) -> Result<Option<Case>, CasesError> {
        let row = sqlx::query(&format!("SELECT {CASE_COLS} FROM cases WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| case_from_row(&r)).transpose()
    }

    async fn case_by_token(&self, token_hash: &str) -> Result<Option<Case>, CasesError> {
        let row = sqlx::query(
            "SELECT c.body AS body FROM case_tokens t JOIN cases c ON c.id = t.case_id WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| case_from_row(&r)).transpose()
    }

    async fn cases_by_contract_ref(&self, contract_ref: &str) -> Result<Vec<Case>, CasesError> {
        sqlx::query(&format!(
            "SELECT {CASE_COLS} FROM cases WHERE contract_ref = $1 ORDER BY created_at DESC LIMIT 100"
        ))
        .bind(contract_ref)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(case_from_row)
        .collect()
    }

    async fn cases_created_between(
        &self,
        from: Option<OffsetDateTime>,
        before: Option<OffsetDateTime>,
        states: &[CaseState],
        limit: u32,
    ) -> Result<Vec<Case>, CasesError> {
        // States are a closed set of identifiers: listed inline, everything else bound.
        let states_sql = if states.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
            format!(" AND state IN ({})", list.join(", "))
        };
        sqlx::query(&format!(
            "SELECT {CASE_COLS} FROM cases WHERE created_at >= $1 AND created_at < $2{states_sql} \
             ORDER BY created_at DESC LIMIT $3"
        ))
        .bind(from.map_or(i64::MIN, to_micros))
        .bind(before.map_or(i64::MAX, to_micros))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(case_from_row)
        .collect()
    }

    async fn update_case(
        &self,
        id: &str,
        actor: &Actor,
        now: OffsetDateTime,
        f: Mutation<'_>,
    ) -> Result<Case, CasesError> {
        let mut tx = self.begin().await?;
        let entry = self.lock_entry(&mut tx, id).await?;
        let mut case = self
            .lock_case(&mut tx, id)
            .await?
            .ok_or(CasesError::NotFound("case"))?;
        let fx = f(&mut case, entry.as_ref())?;
        if fx.unchanged {
            tx.rollback().await?;
            return Ok(case);
        }
        let mut events = Vec::new();
        self.apply(&mut tx, &mut case, fx, actor, now, &mut events)
            .await?;
        tx.commit().await?;
        self.publish(events);
        Ok(case)
    }

    async fn take_next(
        &self,
        agent: &Actor,
        now: OffsetDateTime,
        f: Mutation<'_>,
    ) -> Result<Option<Case>, CasesError> {
        let status_of = |row: Option<AnyRow>| -> Result<(), CasesError> {
            let status = match row {
                Some(r) => r.try_get::<String, _>("status")?,
                None => return Err(CasesError::AgentUnavailable("not available")),
            };
            match AgentStatus::parse(&status) {
                Some(AgentStatus::Available) => Ok(()),
                Some(AgentStatus::InCall) => Err(CasesError::AgentUnavailable("in a call")),
                _ => Err(CasesError::AgentUnavailable("paused")),
            }
        };
        // Fail fast without locks; checked again under the lock below.
        status_of(
            sqlx::query("SELECT status FROM agents WHERE user_id = $1")
                .bind(agent.id())
                .fetch_optional(&self.pool)
                .await?,
        )?;
        let mut tx = self.begin().await?;
        let skip = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "SELECT {ENTRY_COLS} FROM queue_entries WHERE disconnected_at IS NULL ORDER BY seq LIMIT 1{skip}"
        );
        let Some(row) = sqlx::query(&sql).fetch_optional(&mut *tx).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        let entry = entry_from_row(&row)?;
        let mut case = self
            .lock_case(&mut tx, &entry.case_id)
            .await?
            .ok_or(CasesError::NotFound("case"))?;
        let sql = format!(
            "SELECT status FROM agents WHERE user_id = $1{}",
            self.for_update()
        );
        status_of(
            sqlx::query(&sql)
                .bind(agent.id())
                .fetch_optional(&mut *tx)
                .await?,
        )?;
        let fx = f(&mut case, Some(&entry))?;
        sqlx::query("DELETE FROM queue_entries WHERE case_id = $1")
            .bind(&case.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE agents SET status = 'in_call', case_id = $2, since = $3 WHERE user_id = $1",
        )
        .bind(agent.id())
        .bind(&case.id)
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await?;
        let mut events = vec![QueueEvent {
            kind: "taken".into(),
            case_id: case.id.clone(),
        }];
        self.apply(&mut tx, &mut case, fx, agent, now, &mut events)
            .await?;
        tx.commit().await?;
        self.publish(events);
        Ok(Some(case))
    }

    async fn expired_cases(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<String>, CasesError> {
        sqlx::query(
            "SELECT id FROM cases WHERE state IN ('created', 'prepared', 'aborted') AND is_final = 0 \
             AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
        )
        .bind(to_micros(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("id").map_err(CasesError::from))
        .collect()
    }

    async fn audit(&self, case_id: &str) -> Result<Vec<AuditEntry>, CasesError> {
        sqlx::query(
            "SELECT case_id, seq, at, actor_role, actor_id, event, prev_hash, hash FROM audit_entries \
             WHERE case_id = $1 ORDER BY seq",
        )
        .bind(case_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(audit_from_row)
        .collect()
    }

    async fn queue(&self) -> Result<Vec<QueueEntry>, CasesError> {
        sqlx::query(&format!(
            "SELECT {ENTRY_COLS} FROM queue_entries ORDER BY seq"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(entry_from_row)
        .collect()
    }

    async fn queue_len(&self) -> Result<u32, CasesError> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM queue_entries")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn queue_entry(&self, case_id: &str) -> Result<Option<(QueueEntry, u32)>, CasesError> {
        let sql = format!(
            "SELECT {ENTRY_COLS}, (SELECT COUNT(*) FROM queue_entries q2 WHERE q2.seq <= queue_entries.seq) AS position \
             FROM queue_entries WHERE case_id = $1"
        );
        match sqlx::query(&sql)
            .bind(case_id)
            .fetch_optional(&self.pool)
            .await?
        {
            Some(r) => {
                let position: i64 = r.try_get("position")?;
                Ok(Some((
                    entry_from_row(&r)?,
                    u32::try_from(position).unwrap_or(u32::MAX),
                )))
            }
            None => Ok(None),
        }
    }

    async fn set_agent_status(
        &self,
        agent: &Actor,
        status: AgentStatus,
        now: OffsetDateTime,
    ) -> Result<AgentState, CasesError> {
        if status == AgentStatus::InCall {
            return Err(CasesError::invalid(
                "status",
                "an agent is in a call only by taking one",
            ));
        }
        let mut tx = self.begin().await?;
        let sql = format!(
            "SELECT user_id, status, case_id, since FROM agents WHERE user_id = $1{}",
            self.for_update()
        );
        if let Some(row) = sqlx::query(&sql)
            .bind(agent.id())
            .fetch_optional(&mut *tx)
            .await?
        {
            let current = agent_from_row(&row)?;
            if current.status == AgentStatus::InCall {
                return Err(CasesError::AgentUnavailable("in a call"));
            }
            if current.status == status {
                tx.rollback().await?;
                return Ok(current);
            }
        }
        sqlx::query(
            "INSERT INTO agents (user_id, status, case_id, since) VALUES ($1, $2, NULL, $3) \
             ON CONFLICT (user_id) DO UPDATE SET status = excluded.status, case_id = NULL, since = excluded.since",
        )
        .bind(agent.id())
        .bind(status.as_str())
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await?;
        let ev = QueueEvent {
            kind: "agent".into(),
            case_id: String::new(),
        };
        self.notify(&mut tx, &ev).await?;
        tx.commit().await?;
        self.publish(vec![ev]);
        Ok(AgentState {
            user_id: agent.id().to_string(),
            status,
            case_id: None,
            since: now,
        })
    }

    async fn agents(&self) -> Result<Vec<AgentState>, CasesError> {
        sqlx::query("SELECT user_id, status, case_id, since FROM agents ORDER BY user_id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(agent_from_row)
            .collect()
    }

    async fn recent_handling_times(&self, limit: u32) -> Result<Vec<Duration>, CasesError> {
        sqlx::query(
            "SELECT started_at, ended_at FROM handling_times ORDER BY ended_at DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            let s: i64 = r.try_get("started_at")?;
            let e: i64 = r.try_get("ended_at")?;
            Ok(Duration::microseconds((e - s).max(0)))
        })
        .collect()
    }

    async fn heartbeat_node(&self, n: &MediaNode) -> Result<(), CasesError> {
        sqlx::query(
            "INSERT INTO media_nodes (id, public_url, capacity, calls, draining, started_at, heartbeat_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (id) DO UPDATE SET public_url = $2, capacity = $3, calls = $4, draining = $5, \
             started_at = $6, heartbeat_at = $7",
        )
        .bind(&n.id)
        .bind(&n.public_url)
        .bind(i64::from(n.capacity))
        .bind(i64::from(n.calls))
        .bind(i64::from(n.draining))
        .bind(to_micros(n.started_at))
        .bind(to_micros(n.heartbeat_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn remove_node(&self, id: &str) -> Result<(), CasesError> {
        sqlx::query("DELETE FROM media_nodes WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn media_nodes(&self) -> Result<Vec<MediaNode>, CasesError> {
        sqlx::query(
            "SELECT id, public_url, capacity, calls, draining, started_at, heartbeat_at FROM media_nodes ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(MediaNode {
                id: r.try_get("id")?,
                public_url: r.try_get("public_url")?,
                capacity: u32::try_from(r.try_get::<i64, _>("capacity")?).unwrap_or(0),
                calls: u32::try_from(r.try_get::<i64, _>("calls")?).unwrap_or(0),
                draining: r.try_get::<i64, _>("draining")? != 0,
                started_at: from_micros(r.try_get("started_at")?),
                heartbeat_at: from_micros(r.try_get("heartbeat_at")?),
            })
        })
        .collect()
    }

    async fn assign_call(&self, a: &CallAssignment) -> Result<(), CasesError> {
        sqlx::query(
            "INSERT INTO call_assignments (call_id, case_id, node_id, created_at, expires_at, ended_at) \
             VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(&a.call_id)
        .bind(&a.case_id)
        .bind(&a.node_id)
        .bind(to_micros(a.created_at))
        .bind(to_micros(a.expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn open_assignments(
        &self,
        node_id: Option<&str>,
    ) -> Result<Vec<CallAssignment>, CasesError> {
        let op = if node_id.is_some() { "=" } else { "<>" };
        let sql = format!(
            "SELECT {ASSIGNMENT_COLS} FROM call_assignments WHERE ended_at IS NULL AND node_id {op} $1"
        );
        sqlx::query(&sql)
            .bind(node_id.unwrap_or(""))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(assignment_from_row)
            .collect()
    }

    async fn assignment(&self, call_id: &str) -> Result<Option<CallAssignment>, CasesError> {
        sqlx::query(&format!(
            "SELECT {ASSIGNMENT_COLS} FROM call_assignments WHERE call_id = $1"
        ))
        .bind(call_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(assignment_from_row)
        .transpose()
    }

    async fn end_assignment(&self, call_id: &str, now: OffsetDateTime) -> Result<bool, CasesError> {
        let r = sqlx::query(
            "UPDATE call_assignments SET ended_at = $2 WHERE call_id = $1 AND ended_at IS NULL",
        )
        .bind(call_id)
        .bind(to_micros(now))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn publish(&self, msg: &BusMsg) -> Result<(), CasesError> {
        match self.backend {
            Backend::Postgres => {
                let payload = serde_json::to_string(msg).map_err(|e| corrupt("bus message", e))?;
                sqlx::query("SELECT count(*) FROM (SELECT pg_notify($1, $2)) AS n")
                    .bind(BUS_CHANNEL)
                    .bind(payload)
                    .fetch_one(&self.pool)
                    .await?;
            }
            Backend::Sqlite => {
                let _ = self.bus.send(msg.clone());
            }
        }
        Ok(())
    }

    fn bus(&self) -> broadcast::Receiver<BusMsg> {
        self.bus.subscribe()
    }

    fn queue_events(&self) -> broadcast::Receiver<QueueEvent> {
        self.events.subscribe()
    }

    async fn insert_user(&self, user: &User) -> Result<(), CasesError> {
        let r = sqlx::query(&format!(
            "INSERT INTO users ({USER_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"
        ))
        .bind(&user.id)
        .bind(&user.username)
        .bind(user.role.as_str())
        .bind(&user.password_hash)
        .bind(i64::from(user.disabled))
        .bind(to_micros(user.created_at))
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(CasesError::UserExists(user.username.clone())),
            Err(e) => Err(e.into()),
        }
    }

    async fn user(&self, id: &str) -> Result<Option<User>, CasesError> {
        let row = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| user_from_row(&r)).transpose()
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<User>, CasesError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLS} FROM users WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| user_from_row(&r)).transpose()
    }

    async fn users(&self) -> Result<Vec<User>, CasesError> {
        sqlx::query(&format!("SELECT {USER_COLS} FROM users ORDER BY username"))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(user_from_row)
            .collect()
    }

    async fn update_user(&self, user: &User) -> Result<(), CasesError> {
        let r = sqlx::query(
            "UPDATE users SET role = $2, password_hash = $3, disabled = $4 WHERE id = $1",
        )
        .bind(&user.id)
        .bind(user.role.as_str())
        .bind(&user.password_hash)
        .bind(i64::from(user.disabled))
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 0 {
            return Err(CasesError::NotFound("user"));
        }
        Ok(())
    }

    async fn insert_session(
        &self,
        token_hash: &str,
        user_id: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<(), CasesError> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(user_id)
            .bind(to_micros(now))
            .bind(to_micros(expires_at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn session_user(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<User>, CasesError> {
        let row = sqlx::query(
            "SELECT u.id AS id, u.username AS username, u.role AS role, u.password_hash AS password_hash, \
             u.disabled AS disabled, u.created_at AS created_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled = 0",
        )
        .bind(token_hash)
        .bind(to_micros(now))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| user_from_row(&r)).transpose()
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), CasesError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_sessions_of(
        &self,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<(), CasesError> {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 OR expires_at <= $2")
            .bind(user_id)
            .bind(to_micros(now))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn claim_webhooks(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, CasesError> {
        let mut tx = self.begin().await?;
        let skip = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let rows = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLS} FROM webhooks WHERE delivered_at IS NULL AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at LIMIT $2{skip}"
        ))
        .bind(to_micros(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut d = webhook_from_row(&row)?;
            d.attempts += 1;
            d.next_attempt_at = now + lease;
            sqlx::query("UPDATE webhooks SET attempts = $2, next_attempt_at = $3 WHERE id = $1")
                .bind(&d.id)
                .bind(i64::from(d.attempts))
                .bind(to_micros(d.next_attempt_at))
                .execute(&mut *tx)
                .await?;
            out.push(d);
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn webhook_delivered(&self, id: &str, now: OffsetDateTime) -> Result<(), CasesError> {
        let r =
            sqlx::query("UPDATE webhooks SET delivered_at = $2, last_error = NULL WHERE id = $1")
                .bind(id)
                .bind(to_micros(now))
                .execute(&self.pool)
                .await?;
        if r.rows_affected() == 0 {
            return Err(CasesError::NotFound("webhook delivery"));
        }
        Ok(())
    }

    async fn webhook_failed(
        &self,
        id: &str,
        error: &str,
        next_attempt_at: Option<OffsetDateTime>,
    ) -> Result<(), CasesError> {
        let error: String = error.chars().take(1000).collect();
        let r =
            sqlx::query("UPDATE webhooks SET last_error = $2, next_attempt_at = $3 WHERE id = $1")
                .bind(id)
                .bind(error)
                // Giving up: never due again.
                .bind(next_attempt_at.map_or(i64::MAX, to_micros))
                .execute(&self.pool)
                .await?;
        if r.rows_affected() == 0 {
            return Err(CasesError::NotFound("webhook delivery"));
        }
        Ok(())
    }

    async fn webhooks(&self, case_id: &str) -> Result<Vec<WebhookDelivery>, CasesError> {
        sqlx::query(&format!(
            "SELECT {WEBHOOK_COLS} FROM webhooks WHERE case_id = $1 ORDER BY created_at, id"
        ))
        .bind(case_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(webhook_from_row)
        .collect()
    }
}
