-- Accounts and access: users, organisations and their members, personal access tokens,
-- repository visibility, and the key every replica signs and checks bearer tokens with.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE organisations (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- role: owner | maintainer (both push) | reader (pull).
CREATE TABLE org_members (
    org_id  INTEGER NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role    TEXT    NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_by_user ON org_members(user_id);

-- Only a hash of each token's secret is kept; scopes is a comma-separated subset of
-- pull,push,admin.
CREATE TABLE access_tokens (
    id           TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    secret_hash  TEXT    NOT NULL,
    scopes       TEXT    NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER,
    created_at   INTEGER NOT NULL
);
CREATE INDEX access_tokens_by_user ON access_tokens(user_id);

ALTER TABLE repositories ADD COLUMN private INTEGER NOT NULL DEFAULT 0;

CREATE TABLE signing_keys (
    id         INTEGER PRIMARY KEY,
    secret     BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);
