-- Accounts and access: users, organisations and their members, personal access tokens,
-- repository visibility, and the key every replica signs and checks bearer tokens with.

CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          TEXT COLLATE "C" NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    is_admin      BIGINT  NOT NULL DEFAULT 0,
    disabled      BIGINT  NOT NULL DEFAULT 0,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE organisations (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at BIGINT  NOT NULL
);

-- role: owner | maintainer (both push) | reader (pull).
CREATE TABLE org_members (
    org_id  BIGINT  NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    user_id BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role    TEXT    NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_by_user ON org_members(user_id);

-- Only a hash of each token's secret is kept; scopes is a comma-separated subset of
-- pull,push,admin.
CREATE TABLE access_tokens (
    id           TEXT    PRIMARY KEY,
    user_id      BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    secret_hash  TEXT    NOT NULL,
    scopes       TEXT    NOT NULL,
    expires_at   BIGINT ,
    revoked_at   BIGINT ,
    last_used_at BIGINT ,
    created_at   BIGINT  NOT NULL
);
CREATE INDEX access_tokens_by_user ON access_tokens(user_id);

ALTER TABLE repositories ADD COLUMN private BIGINT NOT NULL DEFAULT 0;

CREATE TABLE signing_keys (
    id         BIGINT PRIMARY KEY,
    secret     BYTEA   NOT NULL,
    created_at BIGINT  NOT NULL
);
