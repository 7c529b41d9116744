-- Wasm facts: what each pushed Wasm artifact is, written in the same transaction as its
-- manifest (issue 4). One row per manifest that is Wasm (or claims to be and could not be read);
-- child rows for the values searched by equality (ABIs, exports, imports).
-- Deleting a manifest deletes its facts; search joins through tags, so a moved tag shows the
-- manifest it now names. Free text uses a tsvector (built in: no extension to install).

CREATE TABLE wasm_artifacts (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id   BIGINT  NOT NULL,
    manifest_digest TEXT    NOT NULL,
    format          TEXT    NOT NULL,
    outcome         TEXT    NOT NULL,
    reason          TEXT,
    runtime_type    TEXT,
    kind            TEXT,
    wasi            TEXT,
    module_digest   TEXT,
    module_size     BIGINT,
    abi_list        TEXT    NOT NULL,
    title           TEXT,
    description     TEXT,
    version         TEXT,
    search_text     TEXT    NOT NULL,
    search_vector   TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED,
    facts           TEXT    NOT NULL,
    indexed_at      BIGINT  NOT NULL,
    UNIQUE (repository_id, manifest_digest),
    FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
);
CREATE INDEX wasm_artifacts_by_runtime ON wasm_artifacts(runtime_type);
CREATE INDEX wasm_artifacts_by_kind ON wasm_artifacts(kind);
CREATE INDEX wasm_artifacts_by_format ON wasm_artifacts(format);
CREATE INDEX wasm_artifacts_by_module ON wasm_artifacts(module_digest);
CREATE INDEX wasm_artifacts_text ON wasm_artifacts USING GIN (search_vector);

CREATE TABLE wasm_abis (
    artifact_id BIGINT  NOT NULL REFERENCES wasm_artifacts(id) ON DELETE CASCADE,
    abi         TEXT    NOT NULL,
    declared    BIGINT  NOT NULL,
    detected    BIGINT  NOT NULL,
    PRIMARY KEY (artifact_id, abi)
);
CREATE INDEX wasm_abis_by_abi ON wasm_abis(abi, artifact_id);

CREATE TABLE wasm_exports (
    artifact_id BIGINT  NOT NULL REFERENCES wasm_artifacts(id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    PRIMARY KEY (artifact_id, name, kind)
);
CREATE INDEX wasm_exports_by_name ON wasm_exports(name, artifact_id);

CREATE TABLE wasm_imports (
    artifact_id BIGINT  NOT NULL REFERENCES wasm_artifacts(id) ON DELETE CASCADE,
    module      TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    PRIMARY KEY (artifact_id, module, name, kind)
);
CREATE INDEX wasm_imports_by_name ON wasm_imports(name, artifact_id);
CREATE INDEX wasm_imports_by_module ON wasm_imports(module, artifact_id);

CREATE INDEX tags_by_updated ON tags(updated_at);
