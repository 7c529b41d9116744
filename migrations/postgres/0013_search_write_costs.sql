-- search_counts held one row per (facet row, privacy), and every tagged Wasm push added one to
-- it from its tag's trigger. Its transaction then held that row's lock until commit, so
-- concurrent pushes of the same kind of module committed one after another: at 16 connections
-- a third of the backends were waiting on it (Lock:transactionid, on the tags insert), and the
-- push rate was the length of a transaction's tail, fsync included, not the machine's.
-- A count is now spread over up to 64 rows (shards), the one written chosen by the writing
-- backend process: pooled connections are long-lived processes with consecutive ids, so
-- concurrent writers land on different rows. Every reader already sums over the rows.
ALTER TABLE search_counts ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE search_counts DROP CONSTRAINT search_counts_pkey;
ALTER TABLE search_counts ADD PRIMARY KEY (facet_id, private, shard);

CREATE OR REPLACE FUNCTION search_entry_count() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
    own_shard SMALLINT := pg_backend_pid() % 64;
BEGIN
    -- An upsert both ways: this backend's shard may have no row yet for a decrement, and
    -- a shard's count may go below zero (the sum is what counts).
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        INSERT INTO search_counts (facet_id, private, shard, n) VALUES (OLD.facet_id, OLD.private, own_shard, -1)
            ON CONFLICT (facet_id, private, shard) DO UPDATE SET n = search_counts.n - 1;
        UPDATE search_terms SET tag_count = tag_count - 1 WHERE artifact_id = OLD.artifact_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO search_counts (facet_id, private, shard, n) VALUES (NEW.facet_id, NEW.private, own_shard, 1)
            ON CONFLICT (facet_id, private, shard) DO UPDATE SET n = search_counts.n + 1;
        -- An artifact's terms follow its entries: how many tags name it, and its privacy.
        UPDATE search_terms SET tag_count = tag_count + 1, private = NEW.private WHERE artifact_id = NEW.artifact_id;
    END IF;
    RETURN NULL;
END $$;

-- One trigger for an artifact's insert, not two (0005's entries, 0010's words): each looked up
-- the artifact's facet row, and each call of a PL/pgSQL trigger has its own cost. Entries
-- first, as before (triggers fire in name order), so the words' tag count sees them.
CREATE OR REPLACE FUNCTION search_artifact_insert() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
    facet BIGINT := search_facet_of(NEW);
BEGIN
    INSERT INTO search_entries (repository_id, repository, tag, artifact_id, facet_id, private, updated_at)
        SELECT t.repository_id, r.name, t.name, NEW.id, facet, r.private, t.updated_at
        FROM tags t JOIN repositories r ON r.id = t.repository_id
        WHERE t.repository_id = NEW.repository_id AND t.manifest_digest = NEW.manifest_digest;
    INSERT INTO search_terms (field, term, artifact_id, facet_id, private, tag_count)
        SELECT DISTINCT 'word', w, NEW.id, facet, r.private,
               (SELECT COUNT(*) FROM search_entries e WHERE e.artifact_id = NEW.id)
        FROM unnest(string_to_array(NEW.search_text, ' ')) w
        JOIN repositories r ON r.id = NEW.repository_id
        WHERE w <> ''
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
DROP TRIGGER search_words_insert ON wasm_artifacts;
DROP FUNCTION search_words_insert();
