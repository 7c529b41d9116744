-- Manifest pulls (GET of a manifest, by tag or digest), counted in memory by each replica and
-- added here in batches every few seconds and at shutdown: additive updates, so any number of
-- replicas may flush into the same rows. They feed the "most pulled" orderings.

CREATE TABLE repository_pulls (
    repository_id   INTEGER PRIMARY KEY REFERENCES repositories (id) ON DELETE CASCADE,
    pulls           INTEGER NOT NULL,
    last_pulled_at  INTEGER NOT NULL
);
CREATE INDEX repository_pulls_by_count ON repository_pulls (pulls DESC, repository_id);

-- Pulls by tag name (a pull by digest counts for the repository only). Kept when the tag is
-- deleted or moved: it counts pulls of the name.
CREATE TABLE tag_pulls (
    repository_id   INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    tag             TEXT    NOT NULL,
    pulls           INTEGER NOT NULL,
    last_pulled_at  INTEGER NOT NULL,
    PRIMARY KEY (repository_id, tag)
);
