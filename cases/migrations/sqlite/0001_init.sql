-- vidid case store, SQLite. Times are microseconds since the Unix epoch (BIGINT) so both
-- backends store and compare them the same way. The case body is JSON text; the columns
-- beside it are copies for indexes and the queue claim.

CREATE TABLE cases (
    id           TEXT PRIMARY KEY,
    state        TEXT NOT NULL,
    version      BIGINT NOT NULL,
    contract_ref TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    agent_id     TEXT,
    is_final     BIGINT NOT NULL,
    audit_len    BIGINT NOT NULL,
    audit_head   TEXT NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX cases_state_expires ON cases (state, expires_at);
CREATE INDEX cases_contract_ref ON cases (contract_ref);

CREATE TABLE case_tokens (
    token_hash TEXT PRIMARY KEY,
    case_id    TEXT NOT NULL REFERENCES cases (id),
    created_at BIGINT NOT NULL
);

CREATE TABLE idempotency_keys (
    key         TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    case_id     TEXT NOT NULL REFERENCES cases (id),
    created_at  BIGINT NOT NULL
);

CREATE TABLE audit_entries (
    case_id    TEXT NOT NULL REFERENCES cases (id),
    seq        BIGINT NOT NULL,
    at         BIGINT NOT NULL,
    actor_role TEXT NOT NULL,
    actor_id   TEXT NOT NULL,
    event      TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
);

-- Defence in depth: the application never updates or deletes audit entries. Someone who can
-- drop this trigger can edit rows, which the hash chain then shows.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_entries
BEGIN
    SELECT RAISE(ABORT, 'audit entries are append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_entries
BEGIN
    SELECT RAISE(ABORT, 'audit entries are append-only');
END;

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled      BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE agents (
    user_id TEXT PRIMARY KEY REFERENCES users (id),
    status  TEXT NOT NULL,
    case_id TEXT,
    since   BIGINT NOT NULL
);

CREATE TABLE queue_entries (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id         TEXT NOT NULL UNIQUE REFERENCES cases (id),
    joined_at       BIGINT NOT NULL,
    rejoin_hash     TEXT NOT NULL,
    disconnected_at BIGINT
);

CREATE TABLE handling_times (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id    TEXT NOT NULL,
    agent_id   TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at   BIGINT NOT NULL
);
CREATE INDEX handling_times_ended ON handling_times (ended_at);

CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY,
    case_id         TEXT NOT NULL REFERENCES cases (id),
    event           TEXT NOT NULL,
    url             TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    delivered_at    BIGINT,
    last_error      TEXT
);
CREATE INDEX webhooks_due ON webhooks (next_attempt_at) WHERE delivered_at IS NULL;
