-- Catalog: who may do what, which instances exist and the sealed credentials used to reach them.
CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    password_hash    TEXT NOT NULL,
    is_global_admin  INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL
);

CREATE TABLE role_bindings (
    project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        TEXT NOT NULL,
    PRIMARY KEY (project_id, user_id, role)
);

-- Tokens are kept only as SHA-256 of the bearer string.
CREATE TABLE tokens (
    hash        TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    project_id  TEXT,
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX tokens_expiry ON tokens(expires_at);

CREATE TABLE instances (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    datastore_type   TEXT NOT NULL,
    host             TEXT NOT NULL,
    port             INTEGER NOT NULL,
    protected_users  TEXT NOT NULL,
    admin_port       INTEGER,
    created_at       INTEGER NOT NULL
);
CREATE INDEX instances_project ON instances(project_id, created_at);

-- Passwords are AES-256-GCM envelopes bound to the row id (see secrets::Sealer).
CREATE TABLE db_users (
    id               TEXT PRIMARY KEY,
    instance_id      TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    username         TEXT NOT NULL,
    sealed_password  TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (instance_id, username)
);
