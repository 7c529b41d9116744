-- Webhooks, the durable event queue they are fed from, and the audit log.
--
-- An event row is written in the same transaction as the change it describes, with one
-- delivery row per webhook that wants it; the delivery worker of `wasmhub serve` sends the
-- deliveries that are due and records each attempt's outcome on its row.

-- namespace NULL: a global webhook (every repository, and registry-wide events such as GC).
-- events: comma-separated event kinds (`manifest.pushed,tag.moved`), empty for all kinds.
-- secret: kept in clear, since every delivery is signed with it (HMAC-SHA256).
CREATE TABLE webhooks (
    id         INTEGER PRIMARY KEY,
    namespace  TEXT,
    url        TEXT    NOT NULL,
    secret     TEXT    NOT NULL,
    events     TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE INDEX webhooks_by_namespace ON webhooks(namespace);

-- The facts of one event; the CloudEvent JSON is rendered from them when it is sent.
-- detail: a JSON object of kind-specific fields (a moved tag's previous digest, GC totals).
CREATE TABLE events (
    id         TEXT    PRIMARY KEY,
    kind       TEXT    NOT NULL,
    repository TEXT,
    tag        TEXT,
    digest     TEXT,
    media_type TEXT,
    size       INTEGER,
    actor      TEXT,
    detail     TEXT,
    created_at INTEGER NOT NULL
);

-- state: pending | delivered | dead. A worker claims a due delivery by moving
-- next_attempt_at past the attempt's deadline (a lease): if it dies mid-attempt, the row
-- is due again once that lease has passed.
CREATE TABLE event_deliveries (
    id              INTEGER PRIMARY KEY,
    event_id        TEXT    NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    webhook_id      INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    state           TEXT    NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    finished_at     INTEGER,
    created_at      INTEGER NOT NULL
);
CREATE INDEX event_deliveries_due ON event_deliveries(state, next_attempt_at);
CREATE INDEX event_deliveries_by_webhook ON event_deliveries(webhook_id);

-- Who did what to what. actor: a user name, or `anonymous` (no credentials, or
-- WASMHUB_AUTH=none), or `cli` (the command line, on the database directly).
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    repository TEXT,
    target     TEXT    NOT NULL,
    client_ip  TEXT,
    detail     TEXT
);
CREATE INDEX audit_log_by_time ON audit_log(at);
CREATE INDEX audit_log_by_actor ON audit_log(actor, at);
CREATE INDEX audit_log_by_repository ON audit_log(repository, at);
