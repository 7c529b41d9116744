-- Search storage fit for 100,000 tagged modules (issue 4, item 6). The same tables as the
-- SQLite migration (see there for the why): search_facets, search_facet_abis, search_entries,
-- kept in step by triggers inside every write's own transaction.

CREATE TABLE search_facets (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    runtime_type TEXT,
    kind         TEXT,
    format       TEXT    NOT NULL,
    abi_list     TEXT    NOT NULL,
    UNIQUE NULLS NOT DISTINCT (format, abi_list, runtime_type, kind)
);

CREATE TABLE search_facet_abis (
    abi      TEXT   NOT NULL,
    facet_id BIGINT NOT NULL REFERENCES search_facets(id) ON DELETE CASCADE,
    PRIMARY KEY (abi, facet_id)
);
CREATE INDEX search_facet_abis_by_facet ON search_facet_abis(facet_id);

CREATE TABLE search_entries (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id BIGINT NOT NULL,
    repository    TEXT   NOT NULL,
    tag           TEXT   NOT NULL,
    artifact_id   BIGINT NOT NULL REFERENCES wasm_artifacts(id) ON DELETE CASCADE,
    facet_id      BIGINT NOT NULL REFERENCES search_facets(id),
    private       BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    FOREIGN KEY (repository_id, tag) REFERENCES tags(repository_id, name) ON DELETE CASCADE
);
CREATE UNIQUE INDEX search_entries_by_tag ON search_entries(repository_id, tag);
-- Each index below carries the columns every filter tests, for index-only scans (see the
-- SQLite migration).
CREATE INDEX search_entries_by_facet ON search_entries(facet_id, private) INCLUDE (artifact_id, repository_id);
CREATE INDEX search_entries_by_visibility ON search_entries(private, facet_id) INCLUDE (artifact_id, repository_id);
CREATE INDEX search_entries_by_artifact ON search_entries(artifact_id) INCLUDE (private, facet_id, repository_id);
CREATE INDEX search_entries_by_updated ON search_entries(updated_at DESC, repository, tag)
    INCLUDE (private, facet_id, artifact_id, repository_id);
CREATE INDEX search_entries_by_name ON search_entries(repository, tag)
    INCLUDE (private, facet_id, artifact_id, repository_id);

-- What the export and import filters match, once per artifact, with the artifact's facet row,
-- privacy and number of tags (see the SQLite migration).
CREATE TABLE search_terms (
    field       TEXT   NOT NULL,
    term        TEXT   NOT NULL,
    artifact_id BIGINT NOT NULL REFERENCES wasm_artifacts(id) ON DELETE CASCADE,
    facet_id    BIGINT NOT NULL,
    private     BIGINT NOT NULL,
    tag_count   BIGINT NOT NULL,
    PRIMARY KEY (field, term, artifact_id)
);
CREATE INDEX search_terms_by_artifact ON search_terms(artifact_id);
CREATE INDEX search_terms_counted ON search_terms(field, term, facet_id, private) INCLUDE (tag_count);

-- The facet row of an artifact's values, created on first use.
CREATE FUNCTION search_facet_of(a wasm_artifacts) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    found BIGINT;
BEGIN
    SELECT f.id INTO found FROM search_facets f
        WHERE f.format = a.format AND f.abi_list = a.abi_list
          AND f.runtime_type IS NOT DISTINCT FROM a.runtime_type AND f.kind IS NOT DISTINCT FROM a.kind;
    IF found IS NULL THEN
        INSERT INTO search_facets (runtime_type, kind, format, abi_list)
            VALUES (a.runtime_type, a.kind, a.format, a.abi_list)
            ON CONFLICT DO NOTHING RETURNING id INTO found;
    END IF;
    IF found IS NULL THEN
        -- Another transaction created it meanwhile (the insert waited for it to commit).
        SELECT f.id INTO found FROM search_facets f
            WHERE f.format = a.format AND f.abi_list = a.abi_list
              AND f.runtime_type IS NOT DISTINCT FROM a.runtime_type AND f.kind IS NOT DISTINCT FROM a.kind;
    END IF;
    RETURN found;
END $$;

-- The facet row is created even when no tag names the artifact yet (ABI rows need it).
CREATE FUNCTION search_artifact_insert() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
    facet BIGINT := search_facet_of(NEW);
BEGIN
    INSERT INTO search_entries (repository_id, repository, tag, artifact_id, facet_id, private, updated_at)
        SELECT t.repository_id, r.name, t.name, NEW.id, facet, r.private, t.updated_at
        FROM tags t JOIN repositories r ON r.id = t.repository_id
        WHERE t.repository_id = NEW.repository_id AND t.manifest_digest = NEW.manifest_digest;
    RETURN NULL;
END $$;
CREATE TRIGGER search_artifact_insert AFTER INSERT ON wasm_artifacts
    FOR EACH ROW EXECUTE FUNCTION search_artifact_insert();

CREATE FUNCTION search_abi_insert() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_facet_abis (abi, facet_id)
        SELECT NEW.abi, search_facet_of(a) FROM wasm_artifacts a WHERE a.id = NEW.artifact_id
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER search_abi_insert AFTER INSERT ON wasm_abis
    FOR EACH ROW EXECUTE FUNCTION search_abi_insert();

CREATE FUNCTION search_term_insert() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
    a wasm_artifacts;
    facet BIGINT;
    is_private BIGINT;
    tags BIGINT;
BEGIN
    SELECT * INTO a FROM wasm_artifacts WHERE id = NEW.artifact_id;
    facet := search_facet_of(a);
    SELECT private INTO is_private FROM repositories WHERE id = a.repository_id;
    SELECT COUNT(*) INTO tags FROM search_entries WHERE artifact_id = a.id;
    IF TG_TABLE_NAME = 'wasm_exports' THEN
        INSERT INTO search_terms VALUES ('export', NEW.name, a.id, facet, is_private, tags) ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO search_terms VALUES ('import', NEW.name, a.id, facet, is_private, tags) ON CONFLICT DO NOTHING;
        INSERT INTO search_terms VALUES ('import', NEW.module, a.id, facet, is_private, tags) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER search_export_insert AFTER INSERT ON wasm_exports
    FOR EACH ROW EXECUTE FUNCTION search_term_insert();
CREATE TRIGGER search_import_insert AFTER INSERT ON wasm_imports
    FOR EACH ROW EXECUTE FUNCTION search_term_insert();

-- A tag pushed, moved or pushed again: its entry follows it.
CREATE FUNCTION search_tag_write() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM search_entries WHERE repository_id = OLD.repository_id AND tag = OLD.name;
    END IF;
    INSERT INTO search_entries (repository_id, repository, tag, artifact_id, facet_id, private, updated_at)
        SELECT NEW.repository_id, r.name, NEW.name, a.id, search_facet_of(a), r.private, NEW.updated_at
        FROM wasm_artifacts a JOIN repositories r ON r.id = a.repository_id
        WHERE a.repository_id = NEW.repository_id AND a.manifest_digest = NEW.manifest_digest;
    RETURN NULL;
END $$;
CREATE TRIGGER search_tag_insert AFTER INSERT ON tags
    FOR EACH ROW EXECUTE FUNCTION search_tag_write();
CREATE TRIGGER search_tag_update AFTER UPDATE OF manifest_digest, updated_at ON tags
    FOR EACH ROW EXECUTE FUNCTION search_tag_write();

CREATE FUNCTION search_repository_private() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    UPDATE search_entries SET private = NEW.private WHERE repository_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER search_repository_private AFTER UPDATE OF private ON repositories
    FOR EACH ROW WHEN (OLD.private IS DISTINCT FROM NEW.private) EXECUTE FUNCTION search_repository_private();

-- Backfill from what is already indexed.
INSERT INTO search_facets (runtime_type, kind, format, abi_list)
    SELECT DISTINCT runtime_type, kind, format, abi_list FROM wasm_artifacts
    ON CONFLICT DO NOTHING;
INSERT INTO search_facet_abis (abi, facet_id)
    SELECT DISTINCT ab.abi, search_facet_of(a) FROM wasm_abis ab JOIN wasm_artifacts a ON a.id = ab.artifact_id
    ON CONFLICT DO NOTHING;
INSERT INTO search_entries (repository_id, repository, tag, artifact_id, facet_id, private, updated_at)
    SELECT t.repository_id, r.name, t.name, a.id, f.id, r.private, t.updated_at
    FROM tags t
    JOIN wasm_artifacts a ON a.repository_id = t.repository_id AND a.manifest_digest = t.manifest_digest
    JOIN repositories r ON r.id = t.repository_id
    JOIN search_facets f ON f.format = a.format AND f.abi_list = a.abi_list
                         AND f.runtime_type IS NOT DISTINCT FROM a.runtime_type
                         AND f.kind IS NOT DISTINCT FROM a.kind;

-- How many entries each (facet row, privacy) has (see the SQLite migration). Two writers that
-- change the same row's count wait for each other's commit; both are short.
CREATE TABLE search_counts (
    facet_id BIGINT NOT NULL REFERENCES search_facets(id),
    private  BIGINT NOT NULL,
    n        BIGINT NOT NULL,
    PRIMARY KEY (facet_id, private)
);
INSERT INTO search_counts (facet_id, private, n)
    SELECT facet_id, private, COUNT(*) FROM search_entries GROUP BY facet_id, private;
-- Statistics for the tables just filled, so the joins below are planned for their real sizes.
ANALYZE search_facets;
ANALYZE search_entries;
-- Per artifact: its facet row, privacy and tag count, then one row per term (an import's name
-- and module may be the same term: ON CONFLICT keeps one).
CREATE TEMPORARY TABLE search_backfill ON COMMIT DROP AS
    SELECT a.id AS artifact_id, f.id AS facet_id, r.private,
           (SELECT COUNT(*) FROM search_entries s WHERE s.artifact_id = a.id) AS tag_count
    FROM wasm_artifacts a
    JOIN repositories r ON r.id = a.repository_id
    JOIN search_facets f ON f.format = a.format AND f.abi_list = a.abi_list
                         AND f.runtime_type IS NOT DISTINCT FROM a.runtime_type
                         AND f.kind IS NOT DISTINCT FROM a.kind;
ALTER TABLE search_backfill ADD PRIMARY KEY (artifact_id);
ANALYZE search_backfill;
INSERT INTO search_terms (field, term, artifact_id, facet_id, private, tag_count)
    SELECT 'export', e.name, b.artifact_id, b.facet_id, b.private, b.tag_count
    FROM wasm_exports e JOIN search_backfill b ON b.artifact_id = e.artifact_id
    ON CONFLICT DO NOTHING;
INSERT INTO search_terms (field, term, artifact_id, facet_id, private, tag_count)
    SELECT 'import', i.name, b.artifact_id, b.facet_id, b.private, b.tag_count
    FROM wasm_imports i JOIN search_backfill b ON b.artifact_id = i.artifact_id
    ON CONFLICT DO NOTHING;
INSERT INTO search_terms (field, term, artifact_id, facet_id, private, tag_count)
    SELECT 'import', i.module, b.artifact_id, b.facet_id, b.private, b.tag_count
    FROM wasm_imports i JOIN search_backfill b ON b.artifact_id = i.artifact_id
    ON CONFLICT DO NOTHING;

CREATE FUNCTION search_entry_count() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE search_counts SET n = n - 1 WHERE facet_id = OLD.facet_id AND private = OLD.private;
        UPDATE search_terms SET tag_count = tag_count - 1 WHERE artifact_id = OLD.artifact_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO search_counts (facet_id, private, n) VALUES (NEW.facet_id, NEW.private, 1)
            ON CONFLICT (facet_id, private) DO UPDATE SET n = search_counts.n + 1;
        -- An artifact's terms follow its entries: how many tags name it, and its privacy.
        UPDATE search_terms SET tag_count = tag_count + 1, private = NEW.private WHERE artifact_id = NEW.artifact_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER search_entry_count AFTER INSERT OR DELETE OR UPDATE OF facet_id, private ON search_entries
    FOR EACH ROW EXECUTE FUNCTION search_entry_count();
