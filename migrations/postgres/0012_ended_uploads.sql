-- A POST no longer writes an upload session: its id is signed (the repository, the time it was
-- issued, a MAC under the registry's key), and a session gets a row only when its first chunk
-- arrives. A small blob (POST, then PUT with the body) then costs one write transaction
-- instead of two. What the rows used to tell, that an id was finished or cancelled and must
-- not be used again, is kept here: one row per ended session, pruned once its id has expired.

CREATE TABLE ended_uploads (
    id        TEXT    PRIMARY KEY,
    ended_at  BIGINT NOT NULL
);

CREATE INDEX ended_uploads_by_time ON ended_uploads (ended_at);
