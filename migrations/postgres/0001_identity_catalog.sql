-- Who may do what, which instances exist and the sealed credentials used to reach them: the
-- SQLite schema after its migrations 0001-0009, in one piece. Times are Unix milliseconds
-- (BIGINT); ids are the service's own strings (TEXT).
CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);
CREATE INDEX projects_created ON projects (created_at, id);

CREATE TABLE users (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    password_hash    TEXT NOT NULL,
    is_global_admin  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at       BIGINT NOT NULL
);

CREATE TABLE role_bindings (
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        TEXT NOT NULL,
    PRIMARY KEY (project_id, user_id, role)
);
CREATE INDEX role_bindings_user ON role_bindings (user_id);

-- Tokens are kept only as SHA-256 of the bearer string.
CREATE TABLE tokens (
    hash        TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id  TEXT,
    issued_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX tokens_expiry ON tokens (expires_at);
CREATE INDEX tokens_user ON tokens (user_id);

-- Permanent access keys for SDK-HMAC-SHA256 request signing; the secret is sealed, never hashed.
CREATE TABLE access_keys (
    access         TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret  TEXT NOT NULL,
    description    TEXT NOT NULL,
    status         TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX access_keys_user ON access_keys (user_id, created_at);

CREATE TABLE instances (
    id                  TEXT PRIMARY KEY,
    project_id          TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    datastore_type      TEXT NOT NULL,
    host                TEXT NOT NULL,
    port                BIGINT NOT NULL,
    -- A JSON array of account names.
    protected_users     TEXT NOT NULL,
    admin_port          BIGINT,
    tls_mode            TEXT NOT NULL DEFAULT 'preferred',
    -- PEM of the CA verify_ca / verify_identity trust; public, so stored as given.
    tls_ca              TEXT,
    -- Rules run only while it is on.
    rule_switch         BOOLEAN NOT NULL DEFAULT FALSE,
    -- The db user rules and kill-all-session act as when they name none. No foreign key: the
    -- db user is deleted (and this cleared) in one transaction by the store.
    default_db_user_id  TEXT,
    created_at          BIGINT NOT NULL
);
CREATE INDEX instances_project ON instances (project_id, created_at, id);
CREATE INDEX instances_rule_switch ON instances (id) WHERE rule_switch;
CREATE INDEX instances_default_db_user ON instances (default_db_user_id)
    WHERE default_db_user_id IS NOT NULL;

-- Passwords are AES-256-GCM envelopes bound to the row id (see secrets::Sealer).
CREATE TABLE db_users (
    id               TEXT PRIMARY KEY,
    instance_id      TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    username         TEXT NOT NULL,
    sealed_password  TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (instance_id, username)
);
CREATE INDEX db_users_listed ON db_users (instance_id, created_at, id);

-- The master key's check value: a constant sealed under the key the store's secrets are sealed
-- with, so a replica started with another key refuses to start. One row.
CREATE TABLE keyring (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    key_check   TEXT NOT NULL,
    sealed_at   BIGINT NOT NULL
);

-- What /healthz writes to prove the store can write. One row.
CREATE TABLE health (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at  BIGINT NOT NULL
);
