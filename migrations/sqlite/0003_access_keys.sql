-- Permanent access keys for SDK-HMAC-SHA256 request signing. The secret must be recoverable to
-- verify an HMAC, so it is sealed (AES-256-GCM under the master key), never hashed.
CREATE TABLE access_keys (
    access         TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sealed_secret  TEXT NOT NULL,
    description    TEXT NOT NULL,
    status         TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);
CREATE INDEX access_keys_user ON access_keys(user_id, created_at);
