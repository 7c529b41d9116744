-- Search storage fit for 100,000 tagged modules (issue 4, item 6).
--
-- Search answers with one page of tagged modules, the exact total and three facets (runtime
-- type, ABI, kind). Computing those by joining tags, wasm_artifacts and repositories for every
-- match cost 0.3-4 s at 100,000 modules. Instead:
--
--   search_facets      one row per distinct (runtime type, kind, format, ABI list): a handful in
--                      practice. Equality filters on those columns become `facet_id IN (...)`.
--   search_facet_abis  the ABIs of each facet row (the ABI filter and the ABI facet).
--   search_entries     one narrow row per tagged Wasm module: which tag, which artifact, its
--                      facet, whether its repository is private, when the tag moved. Totals and
--                      facets are `COUNT(*) ... GROUP BY facet_id` over these rows, read from
--                      covering indexes; items join the wide tables for one page only.
--
-- Triggers keep these in step inside the transaction of every write, whichever code path makes
-- it (push, tag move or delete, manifest delete, reindex, GC, visibility changes): rows go away
-- with their tag or artifact by ON DELETE CASCADE; inserts and updates are triggers. Facet rows
-- are never deleted (there are few, and an unused one matches nothing).

CREATE TABLE search_facets (
    id           INTEGER PRIMARY KEY,
    runtime_type TEXT,
    kind         TEXT,
    format       TEXT    NOT NULL,
    abi_list     TEXT    NOT NULL
);
-- NULL runtime type or kind is a value of its own here (a plain UNIQUE lets NULLs repeat).
-- Lookups below match on (format, abi_list) through this index, then on the rest with `IS`.
CREATE UNIQUE INDEX search_facets_unique
    ON search_facets(format, abi_list, COALESCE(runtime_type, char(0)), COALESCE(kind, char(0)));
CREATE INDEX search_facets_by_runtime ON search_facets(runtime_type);

CREATE TABLE search_facet_abis (
    abi      TEXT    NOT NULL,
    facet_id INTEGER NOT NULL REFERENCES search_facets(id) ON DELETE CASCADE,
    PRIMARY KEY (abi, facet_id)
);
CREATE INDEX search_facet_abis_by_facet ON search_facet_abis(facet_id);

CREATE TABLE search_entries (
    id            INTEGER PRIMARY KEY,
    repository_id INTEGER NOT NULL,
    repository    TEXT    NOT NULL,
    tag           TEXT    NOT NULL,
    artifact_id   INTEGER NOT NULL REFERENCES wasm_artifacts(id) ON DELETE CASCADE,
    facet_id      INTEGER NOT NULL REFERENCES search_facets(id),
    private       INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    FOREIGN KEY (repository_id, tag) REFERENCES tags(repository_id, name) ON DELETE CASCADE
);
CREATE UNIQUE INDEX search_entries_by_tag ON search_entries(repository_id, tag);
-- Each index below carries the columns every filter tests (private, facet_id, artifact_id,
-- repository_id), so a count or a page is read from one index without visiting the table.
-- Totals and facets: per facet, or per visibility then facet (anonymous callers).
CREATE INDEX search_entries_by_facet ON search_entries(facet_id, private, artifact_id, repository_id);
CREATE INDEX search_entries_by_visibility ON search_entries(private, facet_id, artifact_id, repository_id);
-- Matches found through an artifact (exports, imports, free text).
CREATE INDEX search_entries_by_artifact ON search_entries(artifact_id, private, facet_id, repository_id);
-- Pages in the two orders, walked until a page is full.
CREATE INDEX search_entries_by_updated
    ON search_entries(updated_at DESC, repository, tag, private, facet_id, artifact_id, repository_id);
CREATE INDEX search_entries_by_name ON search_entries(repository, tag, private, facet_id, artifact_id, repository_id);

-- What the export and import filters match, once per artifact: export names (field 'export'),
-- import names and import modules (field 'import': a WASI module imports from
-- `wasi_snapshot_preview1` a dozen times). Each row carries its artifact's facet row, privacy
-- and number of tags, so counting one term's matches is one index range with no join.
CREATE TABLE search_terms (
    field       TEXT    NOT NULL,
    term        TEXT    NOT NULL,
    artifact_id INTEGER NOT NULL REFERENCES wasm_artifacts(id) ON DELETE CASCADE,
    facet_id    INTEGER NOT NULL,
    private     INTEGER NOT NULL,
    tag_count   INTEGER NOT NULL,
    PRIMARY KEY (field, term, artifact_id)
) WITHOUT ROWID;
CREATE INDEX search_terms_by_artifact ON search_terms(artifact_id);
CREATE INDEX search_terms_counted ON search_terms(field, term, facet_id, private, tag_count);

-- An artifact's facet row (created on first use).
CREATE TRIGGER search_artifact_insert AFTER INSERT ON wasm_artifacts BEGIN
    INSERT INTO search_facets (runtime_type, kind, format, abi_list)
        VALUES (new.runtime_type, new.kind, new.format, new.abi_list) ON CONFLICT DO NOTHING;
    INSERT INTO search_entries (repository_id, repository, tag, artifact_id, facet_id, private, updated_at)
        SELECT t.repository_id, r.name, t.name, new.id, f.id, r.private, t.updated_at
        FROM tags t
        JOIN repositories r ON r.id = t.repository_id
        JOIN search_facets f ON f.format = new.format AND f.abi_list = new.abi_list
                             AND f.runtime_type IS new.runtime_type AND f.kind IS new.kind
        WHERE t.repository_id = new.repository_id AND t.manifest_digest = new.manifest_digest;
END;

CREATE TRIGGER search_abi_insert AFTER INSERT ON wasm_abis BEGIN
    INSERT INTO search_facet_abis (abi, facet_id)
        SELECT new.abi, f.id FROM wasm_artifacts a
        JOIN search_facets f ON f.format = a.format AND f.abi_list = a.abi_list
                             AND f.runtime_type IS a.runtime_type AND f.kind IS a.kind
        WHERE a.id = new.artifact_id
        ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER search_export_insert AFTER INSERT ON wasm_exports BEGIN
    INSERT INTO search_terms (field, term, artifact_id, facet_id, private, tag_count)
        SELECT 'export', new.name, a.id, f.id, r.private, (SELECT COUNT(*) FROM search_entries e WHERE e.artifact_id = a.id)
        FROM wasm_artifacts a
        JOIN repositories r ON r.id = a.repository_id
        JOIN search_facets f ON f.format = a.format AND f.abi_list = a.abi_list
                             AND f.runtime_type IS a.runtime_type AND f.kind IS a.kind
        WHERE a.id = new.artifact_id
        ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER search_import_insert AFTER INSERT ON wasm_imports BEGIN
    INSERT INTO search_terms (field, term, artifact_id, facet_id, private, tag_count)
        SELECT 'import', new.name, a.id, f.id, r.private, (SELECT COUNT(*) FROM search_entries e WHERE e.artifact_id = a.id)
        FROM wasm_artifacts a
        JOIN repositories r ON r.id = a.repository_id
        JOIN search_facets f ON f.format = a.format AND f.abi_list = a.abi_list
                             AND f.runtime_type IS a.runtime_type AND f.kind IS a.kind
        WHERE a.id = new.artifact_id
        ON CONFLICT DO NOTHING;
    INSERT INTO search_terms (field, term, artifact_id, facet_id, private, tag_count)
        SELECT 'import', new.module, a.id, f.id, r.private, (SELECT COUNT(*) FROM search_entries e WHERE e.artifact_id = a.id)
        FROM wasm_artifacts a
        JOIN repositories r ON r.id = a.repository_id
        JOIN search_facets f ON f.format = a.format AND f.abi_list = a.abi_list
                             AND f.runtime_type IS a.runtime_type AND f.kind IS a.kind
        WHERE a.id = new.artifact_id
        ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER search_tag_insert AFTER INSERT ON tags BEGIN
    INSERT INTO search_entries (repository_id, repository, tag, artifact_id, facet_id, private, updated_at)
        SELECT new.repository_id, r.name, new.name, a.id, f.id, r.private, new.updated_at
        FROM wasm_artifacts a
        JOIN repositories r ON r.id = a.repository_id
        JOIN search_facets f ON f.format = a.format AND f.abi_list = a.abi_list
                             AND f.runtime_type IS a.runtime_type AND f.kind IS a.kind
        WHERE a.repository_id = new.repository_id AND a.manifest_digest = new.manifest_digest;
END;

-- A tag moved (or was pushed again): its entry follows it.
CREATE TRIGGER search_tag_update AFTER UPDATE OF manifest_digest, updated_at ON tags BEGIN
    DELETE FROM search_entries WHERE repository_id = old.repository_id AND tag = old.name;
    INSERT INTO search_entries (repository_id, repository, tag, artifact_id, facet_id, private, updated_at)
        SELECT new.repository_id, r.name, new.name, a.id, f.id, r.private, new.updated_at
        FROM wasm_artifacts a
        JOIN repositories r ON r.id = a.repository_id
        JOIN search_facets f ON f.format = a.format AND f.abi_list = a.abi_list
                             AND f.runtime_type IS a.runtime_type AND f.kind IS a.kind
        WHERE a.repository_id = new.repository_id AND a.manifest_digest = new.manifest_digest;
END;

CREATE TRIGGER search_repository_private AFTER UPDATE OF private ON repositories BEGIN
    UPDATE search_entries SET private = new.private WHERE repository_id = new.id;
END;

-- Backfill from what is already indexed.
INSERT INTO search_facets (runtime_type, kind, format, abi_list)
    SELECT DISTINCT runtime_type, kind, format, abi_list FROM wasm_artifacts WHERE true
    ON CONFLICT DO NOTHING;
INSERT INTO search_facet_abis (abi, facet_id)
    SELECT DISTINCT ab.abi, f.id FROM wasm_abis ab
    JOIN wasm_artifacts a ON a.id = ab.artifact_id
    JOIN search_facets f ON f.format = a.format AND f.abi_list = a.abi_list
                         AND f.runtime_type IS a.runtime_type AND f.kind IS a.kind
    WHERE true
    ON CONFLICT DO NOTHING;
INSERT INTO search_entries (repository_id, repository, tag, artifact_id, facet_id, private, updated_at)
    SELECT t.repository_id, r.name, t.name, a.id, f.id, r.private, t.updated_at
    FROM tags t
    JOIN wasm_artifacts a ON a.repository_id = t.repository_id AND a.manifest_digest = t.manifest_digest
    JOIN repositories r ON r.id = t.repository_id
    JOIN search_facets f ON f.format = a.format AND f.abi_list = a.abi_list
                         AND f.runtime_type IS a.runtime_type AND f.kind IS a.kind;

-- How many entries each (facet row, privacy) has: searches that filter on facet values and
-- visibility only (the catalog's home page, a runtime type's page) read these few rows
-- instead of counting entries. Kept by triggers on search_entries, cascaded deletes included.
CREATE TABLE search_counts (
    facet_id INTEGER NOT NULL REFERENCES search_facets(id),
    private  INTEGER NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (facet_id, private)
);
INSERT INTO search_counts (facet_id, private, n)
    SELECT facet_id, private, COUNT(*) FROM search_entries GROUP BY facet_id, private;

CREATE TRIGGER search_entry_insert AFTER INSERT ON search_entries BEGIN
    INSERT INTO search_counts (facet_id, private, n) VALUES (new.facet_id, new.private, 1)
        ON CONFLICT (facet_id, private) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER search_entry_delete AFTER DELETE ON search_entries BEGIN
    UPDATE search_counts SET n = n - 1 WHERE facet_id = old.facet_id AND private = old.private;
END;
CREATE TRIGGER search_entry_update AFTER UPDATE OF facet_id, private ON search_entries BEGIN
    UPDATE search_counts SET n = n - 1 WHERE facet_id = old.facet_id AND private = old.private;
    INSERT INTO search_counts (facet_id, private, n) VALUES (new.facet_id, new.private, 1)
        ON CONFLICT (facet_id, private) DO UPDATE SET n = n + 1;
END;

INSERT INTO search_terms (field, term, artifact_id, facet_id, private, tag_count)
    SELECT t.field, t.term, a.id, f.id, r.private, COALESCE(tc.n, 0)
    FROM (SELECT 'export' AS field, name AS term, artifact_id FROM wasm_exports
          UNION SELECT 'import', name, artifact_id FROM wasm_imports
          UNION SELECT 'import', module, artifact_id FROM wasm_imports) t
    JOIN wasm_artifacts a ON a.id = t.artifact_id
    JOIN repositories r ON r.id = a.repository_id
    JOIN search_facets f ON f.format = a.format AND f.abi_list = a.abi_list
                         AND f.runtime_type IS a.runtime_type AND f.kind IS a.kind
    LEFT JOIN (SELECT artifact_id, COUNT(*) AS n FROM search_entries GROUP BY artifact_id) tc
           ON tc.artifact_id = a.id;

-- An artifact's terms follow its entries: how many tags name it, and its privacy.
CREATE TRIGGER search_entry_terms_insert AFTER INSERT ON search_entries BEGIN
    UPDATE search_terms SET tag_count = tag_count + 1, private = new.private WHERE artifact_id = new.artifact_id;
END;
CREATE TRIGGER search_entry_terms_delete AFTER DELETE ON search_entries BEGIN
    UPDATE search_terms SET tag_count = tag_count - 1 WHERE artifact_id = old.artifact_id;
END;
CREATE TRIGGER search_entry_terms_private AFTER UPDATE OF private ON search_entries BEGIN
    UPDATE search_terms SET private = new.private WHERE artifact_id = new.artifact_id;
END;
