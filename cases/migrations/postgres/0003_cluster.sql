-- Scale-out (several vidid processes on one PostgreSQL): the media nodes and which call runs
-- on which node.

CREATE TABLE media_nodes (
    id           TEXT PRIMARY KEY,
    public_url   TEXT NOT NULL,
    capacity     BIGINT NOT NULL,
    calls        BIGINT NOT NULL,
    draining     BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);

CREATE TABLE call_assignments (
    call_id    TEXT PRIMARY KEY,
    case_id    TEXT NOT NULL REFERENCES cases (id),
    node_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at   BIGINT
);
CREATE INDEX call_assignments_open ON call_assignments (node_id) WHERE ended_at IS NULL;
