-- Operations, part two: scheduled garbage collection, retention policies, immutable tags and
-- the integrity check's memory. Times are Unix milliseconds.

-- A lease per maintenance job ('gc'): who runs it, until when. A run takes the lease only when
-- it is free or expired, and renews it while it works, so two runs (two replicas' schedules, or
-- a schedule and `wasmhub gc`) never overlap; a crashed holder's lease simply expires.
CREATE TABLE maintenance_leases (
    name        TEXT    PRIMARY KEY,
    holder      TEXT    NOT NULL,
    acquired_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

-- One row per garbage-collection run (and per run skipped because another held the lease).
CREATE TABLE gc_runs (
    id                INTEGER PRIMARY KEY,
    started_at        INTEGER NOT NULL,
    finished_at       INTEGER NOT NULL,
    started_by        TEXT    NOT NULL,  -- 'schedule' or 'cli'
    holder            TEXT    NOT NULL,
    outcome           TEXT    NOT NULL,  -- 'success', 'failure' or 'skipped'
    dry_run           INTEGER NOT NULL,
    blobs_deleted     INTEGER NOT NULL,
    bytes_reclaimed   INTEGER NOT NULL,
    manifests_deleted INTEGER NOT NULL,
    tags_deleted      INTEGER NOT NULL,
    detail            TEXT
);
CREATE INDEX gc_runs_by_started_at ON gc_runs(started_at);

-- Retention policies, applied by every GC run before blobs are collected. `pattern` is a
-- repository name, `prefix/*` (every repository under the prefix) or `*`; the most specific
-- match wins. Each rule is optional.
CREATE TABLE retention_policies (
    pattern             TEXT    PRIMARY KEY,
    keep_last           INTEGER,           -- keep the newest N tags (by push time)
    untagged_older_than INTEGER,           -- milliseconds; delete untagged manifests older
    protect             TEXT    NOT NULL,  -- tag globs never deleted, one per line
    updated_at          INTEGER NOT NULL
);

-- Repositories whose tags, once pushed, never move and are never deleted.
CREATE TABLE immutable_repositories (
    name       TEXT    PRIMARY KEY,
    created_at INTEGER NOT NULL
);

-- fsck: when each blob's content was last re-hashed and found intact.
ALTER TABLE blobs ADD COLUMN verified_at INTEGER;
-- fsck --repair: why a manifest cannot be pulled whole (a blob it needs is corrupt or missing).
ALTER TABLE manifests ADD COLUMN damaged TEXT;
