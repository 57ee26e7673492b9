//! Persistence: one [`Store`] trait, two backends behind one SQL implementation ([`SqlStore`]).
//!
//! - **SQLite** (embedded default): a file in the data directory, WAL mode, one writer at a time
//!   (write transactions are `BEGIN IMMEDIATE`). For a single vidid process.
//! - **PostgreSQL** (scaled out): several vidid processes share the queue; the claim of the next
//!   customer is `SELECT … FOR UPDATE SKIP LOCKED` in a transaction, and queue changes are
//!   broadcast with `NOTIFY vidid_queue` to every process's `LISTEN`.
//!
//! The backend is chosen by the URL ([`StoreConfig::url`]): `sqlite://…` or `postgres://…`.
//! Migrations run when the store is opened (PostgreSQL: under an advisory lock, so processes
//! starting together do not race).
//!
//! The store applies what [`crate::flow`] decides and enforces only what needs the database to
//! be atomic: the queue length at joining, the one-customer-one-agent claim, the agent's
//! availability, and the audit chain's order. Use [`crate::Cases`] rather than the store
//! directly for anything that changes a case.
//!
//! Why `sqlx` with its `Any` driver and runtime-checked queries: one set of SQL text serves both
//! backends (SQLite accepts PostgreSQL's `$1` placeholders), so the two cannot drift apart;
//! the places where the dialects differ (row locks, `NOTIFY`, the migrations' DDL) are marked
//! with [`Backend`] checks. Compile-time checked macros would need a database at build time.

mod sql;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use tokio::sync::broadcast;

pub use sql::SqlStore;

use crate::CasesError;
use crate::audit::AuditEntry;
use crate::case::Case;
use crate::cluster::{BusMsg, CallAssignment, MediaNode};
use crate::flow::Effects;
use crate::queue::{AgentState, AgentStatus, QueueEntry, QueueEvent};
use crate::users::{Actor, User};
use crate::vocabulary::CaseState;
use crate::webhook::WebhookDelivery;

/// The `store` section of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite:///abs/path.db`, `sqlite://relative.db` or `postgres://user@host:port/db`.
    /// Unset: `<data-dir>/vidid.db` (SQLite).
    pub url: Option<String>,
    /// Connections in the pool.
    pub max_connections: Option<u32>,
}

/// Which database is behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a URL names.
    pub fn of_url(url: &str) -> Result<Backend, CasesError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(CasesError::Config {
                key: "store.url",
                reason: "must start with sqlite: or postgres://".into(),
            })
        }
    }
}

/// The SQLite URL of the default database file in `data_dir`.
pub fn default_sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("vidid.db").display())
}

/// Opens (and migrates) the store the configuration names.
pub async fn open(cfg: &StoreConfig, data_dir: &Path) -> Result<Arc<dyn Store>, CasesError> {
    let url = match &cfg.url {
        Some(u) => u.clone(),
        None => {
            std::fs::create_dir_all(data_dir)?;
            default_sqlite_url(data_dir)
        }
    };
    Ok(Arc::new(
        SqlStore::connect(&url, cfg.max_connections).await?,
    ))
}

/// A case transition run inside the store's transaction: it sees the locked case and its
/// queue place (if any), changes the case, and returns what else to write.
pub type Mutation<'a> =
    &'a mut (dyn FnMut(&mut Case, Option<&QueueEntry>) -> Result<Effects, CasesError> + Send);

/// The result of creating a case.
#[derive(Debug, Clone)]
pub enum Created {
    /// A new case.
    New(Case),
    /// An idempotent replay: the case made by the first request with this key.
    Replayed(Case),
}

/// Everything vidid keeps; see the module docs.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Inserts `case` with its first link token and a `case_created` audit entry, or, when
    /// `idempotency` = (key, request fingerprint) was used before with the same fingerprint,
    /// adds the token to that case instead ([`CasesError::IdempotencyConflict`] for another
    /// fingerprint).
    async fn create_case(
        &self,
        case: &Case,
        token_hash: &str,
        idempotency: Option<(&str, &str)>,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Created, CasesError>;

    async fn case(&self, id: &str) -> Result<Option<Case>, CasesError>;

    /// The case a customer link token (its hash) belongs to.
    async fn case_by_token(&self, token_hash: &str) -> Result<Option<Case>, CasesError>;

    /// Cases with this contract reference, newest first.
    async fn cases_by_contract_ref(&self, contract_ref: &str) -> Result<Vec<Case>, CasesError>;

    /// Cases created in `[from, before)` (either end open when `None`), in any of `states`
    /// (all when empty), newest first, at most `limit`.
    async fn cases_created_between(
        &self,
        from: Option<OffsetDateTime>,
        before: Option<OffsetDateTime>,
        states: &[CaseState],
        limit: u32,
    ) -> Result<Vec<Case>, CasesError>;

    /// Runs `f` on the locked case and applies its effects atomically; returns the case as
    /// stored. An error from `f` changes nothing.
    async fn update_case(
        &self,
        id: &str,
        actor: &Actor,
        now: OffsetDateTime,
        f: Mutation<'_>,
    ) -> Result<Case, CasesError>;

    /// Claims the first connected customer in the queue for `agent` (who must be available),
    /// runs `f` on the case, marks the agent in a call. `None` when nobody is waiting.
    async fn take_next(
        &self,
        agent: &Actor,
        now: OffsetDateTime,
        f: Mutation<'_>,
    ) -> Result<Option<Case>, CasesError>;

    /// Ids of cases whose link has expired while they were not queued or in a call.
    async fn expired_cases(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<String>, CasesError>;

    /// The case's audit trail in order.
    async fn audit(&self, case_id: &str) -> Result<Vec<AuditEntry>, CasesError>;

    /// The queue in order.
    async fn queue(&self) -> Result<Vec<QueueEntry>, CasesError>;

    /// How many wait (without reading the queue).
    async fn queue_len(&self) -> Result<u32, CasesError>;

    /// One place and its 1-based position (without reading the queue).
    async fn queue_entry(&self, case_id: &str) -> Result<Option<(QueueEntry, u32)>, CasesError>;

    /// Sets an agent available or paused (creating the agent's row); refused while in a call.
    async fn set_agent_status(
        &self,
        agent: &Actor,
        status: AgentStatus,
        now: OffsetDateTime,
    ) -> Result<AgentState, CasesError>;

    async fn agents(&self) -> Result<Vec<AgentState>, CasesError>;

    /// The handling times of the most recent `limit` calls.
    async fn recent_handling_times(&self, limit: u32) -> Result<Vec<Duration>, CasesError>;

    /// Queue changes, from this process and (PostgreSQL) every other one.
    fn queue_events(&self) -> broadcast::Receiver<QueueEvent>;

    async fn insert_user(&self, user: &User) -> Result<(), CasesError>;
    async fn user(&self, id: &str) -> Result<Option<User>, CasesError>;
    async fn user_by_name(&self, username: &str) -> Result<Option<User>, CasesError>;
    async fn users(&self) -> Result<Vec<User>, CasesError>;
    /// Writes role, password hash and disabled flag.
    async fn update_user(&self, user: &User) -> Result<(), CasesError>;

    async fn insert_session(
        &self,
        token_hash: &str,
        user_id: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<(), CasesError>;
    /// The user of a live session (not expired, user not disabled).
    async fn session_user(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<User>, CasesError>;
    async fn delete_session(&self, token_hash: &str) -> Result<(), CasesError>;
    /// Ends every session of a user; also removes expired sessions of everyone.
    async fn delete_sessions_of(
        &self,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<(), CasesError>;

    /// Claims up to `limit` due, undelivered deliveries for `lease` (they are not due again
    /// until the lease ends); each claim counts as an attempt.
    async fn claim_webhooks(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, CasesError>;
    async fn webhook_delivered(&self, id: &str, now: OffsetDateTime) -> Result<(), CasesError>;
    /// Records a failure; `next_attempt_at` `None` gives up.
    async fn webhook_failed(
        &self,
        id: &str,
        error: &str,
        next_attempt_at: Option<OffsetDateTime>,
    ) -> Result<(), CasesError>;
    async fn webhooks(&self, case_id: &str) -> Result<Vec<WebhookDelivery>, CasesError>;

    // ─── scale-out (crate::cluster) ───

    /// Registers or refreshes a media node.
    async fn heartbeat_node(&self, node: &MediaNode) -> Result<(), CasesError>;
    /// Removes a media node from the registry (it stopped cleanly).
    async fn remove_node(&self, id: &str) -> Result<(), CasesError>;
    async fn media_nodes(&self) -> Result<Vec<MediaNode>, CasesError>;
    async fn assign_call(&self, a: &CallAssignment) -> Result<(), CasesError>;
    /// Assignments not yet ended, of one node or of all.
    async fn open_assignments(
        &self,
        node_id: Option<&str>,
    ) -> Result<Vec<CallAssignment>, CasesError>;
    async fn assignment(&self, call_id: &str) -> Result<Option<CallAssignment>, CasesError>;
    /// Marks an assignment ended; false if it already was.
    async fn end_assignment(&self, call_id: &str, now: OffsetDateTime) -> Result<bool, CasesError>;
    /// Sends a message to every process on this store (this one included).
    async fn publish(&self, msg: &BusMsg) -> Result<(), CasesError>;
    fn bus(&self) -> broadcast::Receiver<BusMsg>;
}
