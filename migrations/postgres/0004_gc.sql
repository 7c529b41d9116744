-- Garbage collection. One row per digest that a writer is placing in storage or the collector
-- is deleting: both sides lock this row (it exists only while one of them is at work), so a
-- push and the collector can never both act on a digest at once. See crates/registry/src/gc.rs.
CREATE TABLE blob_locks (
    digest           TEXT    PRIMARY KEY,
    -- Writers between "may I place this blob?" and "it is recorded", and when the last began
    -- (a hold older than the index's stale-hold limit is from a crashed writer).
    holds            BIGINT  NOT NULL,
    held_at          BIGINT  NOT NULL,
    -- Set while the collector deletes the object; writers wait until the row is gone.
    collecting_since BIGINT
);

-- The collector's scans: abandoned upload sessions and unreferenced blob links by age.
CREATE INDEX uploads_by_updated_at ON uploads(updated_at);
CREATE INDEX repository_blobs_by_created_at ON repository_blobs(created_at);
