-- Wasm facts: what each pushed Wasm artifact is, written in the same transaction as its
-- manifest (issue 4). One row per manifest that is Wasm (or claims to be and could not be read);
-- child rows for the values searched by equality (ABIs, exports, imports).
-- Deleting a manifest deletes its facts; search joins through tags, so a moved tag shows the
-- manifest it now names.

CREATE TABLE wasm_artifacts (
    id              INTEGER PRIMARY KEY,           -- the FTS5 rowid
    repository_id   INTEGER NOT NULL,
    manifest_digest TEXT    NOT NULL,
    format          TEXT    NOT NULL,              -- soloOci, soloCompat, cncfWasm, ...
    outcome         TEXT    NOT NULL,              -- wasm | unrecognised
    reason          TEXT,                          -- why unrecognised
    runtime_type    TEXT,                          -- envoy_proxy, ...
    kind            TEXT,                          -- module | component (primary module)
    wasi            TEXT,                          -- preview1 | preview2 | preview3
    module_digest   TEXT,
    module_size     INTEGER,
    abi_list        TEXT    NOT NULL,              -- comma-joined wasm_abis.abi, for listings
    title           TEXT,
    description     TEXT,
    version         TEXT,
    search_text     TEXT    NOT NULL,              -- name, description, annotations; words only
    facts           TEXT    NOT NULL,              -- the full WasmFacts JSON
    indexed_at      INTEGER NOT NULL,
    UNIQUE (repository_id, manifest_digest),
    FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
);
CREATE INDEX wasm_artifacts_by_runtime ON wasm_artifacts(runtime_type);
CREATE INDEX wasm_artifacts_by_kind ON wasm_artifacts(kind);
CREATE INDEX wasm_artifacts_by_format ON wasm_artifacts(format);
CREATE INDEX wasm_artifacts_by_module ON wasm_artifacts(module_digest);

-- ABI versions, declared or detected; `abi` is normalised (`0.2.1`) when it names a known
-- proxy-wasm version, else the declared name verbatim.
CREATE TABLE wasm_abis (
    artifact_id INTEGER NOT NULL REFERENCES wasm_artifacts(id) ON DELETE CASCADE,
    abi         TEXT    NOT NULL,
    declared    INTEGER NOT NULL,
    detected    INTEGER NOT NULL,
    PRIMARY KEY (artifact_id, abi)
);
CREATE INDEX wasm_abis_by_abi ON wasm_abis(abi, artifact_id);

CREATE TABLE wasm_exports (
    artifact_id INTEGER NOT NULL REFERENCES wasm_artifacts(id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    PRIMARY KEY (artifact_id, name, kind)
);
CREATE INDEX wasm_exports_by_name ON wasm_exports(name, artifact_id);

-- `module` is the core import module (`wasi_snapshot_preview1`), empty for component imports.
CREATE TABLE wasm_imports (
    artifact_id INTEGER NOT NULL REFERENCES wasm_artifacts(id) ON DELETE CASCADE,
    module      TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    PRIMARY KEY (artifact_id, module, name, kind)
);
CREATE INDEX wasm_imports_by_name ON wasm_imports(name, artifact_id);
CREATE INDEX wasm_imports_by_module ON wasm_imports(module, artifact_id);

-- Free text: an external-content FTS5 table over search_text, kept in step by triggers (which
-- also fire for the cascaded deletes of a manifest).
CREATE VIRTUAL TABLE wasm_fts USING fts5(search_text, content='wasm_artifacts', content_rowid='id');
CREATE TRIGGER wasm_artifacts_fts_insert AFTER INSERT ON wasm_artifacts BEGIN
    INSERT INTO wasm_fts(rowid, search_text) VALUES (new.id, new.search_text);
END;
CREATE TRIGGER wasm_artifacts_fts_delete AFTER DELETE ON wasm_artifacts BEGIN
    INSERT INTO wasm_fts(wasm_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text);
END;

-- Listing tags newest first, per repository and overall.
CREATE INDEX tags_by_updated ON tags(updated_at);
