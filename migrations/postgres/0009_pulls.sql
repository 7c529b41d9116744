-- Manifest pulls (GET of a manifest, by tag or digest), counted in memory by each replica and
-- added here in batches every few seconds and at shutdown: additive updates, so any number of
-- replicas may flush into the same rows. They feed the "most pulled" orderings.

CREATE TABLE repository_pulls (
    repository_id   BIGINT PRIMARY KEY REFERENCES repositories (id) ON DELETE CASCADE,
    pulls           BIGINT NOT NULL,
    last_pulled_at  BIGINT NOT NULL
);
CREATE INDEX repository_pulls_by_count ON repository_pulls (pulls DESC, repository_id);

-- Pulls by tag name (a pull by digest counts for the repository only). Kept when the tag is
-- deleted or moved: it counts pulls of the name.
CREATE TABLE tag_pulls (
    repository_id   BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    tag             TEXT COLLATE "C" NOT NULL,
    pulls           BIGINT NOT NULL,
    last_pulled_at  BIGINT NOT NULL,
    PRIMARY KEY (repository_id, tag)
);
