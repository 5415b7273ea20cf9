-- The replica interface (store::ReplicaStore). Only one process opens an embedded store (the
-- data dir's lock), so these tables hold that one replica's heartbeat, its rule leases and the
-- signatures it has seen; a PostgreSQL store shares them between replicas.
ALTER TABLE kill_requests ADD COLUMN replica TEXT NOT NULL DEFAULT '';

CREATE TABLE replicas (
    name        TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL
);

CREATE TABLE rule_leases (
    instance_id  TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    version      INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);

CREATE TABLE signature_claims (
    key         TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX signature_claims_expiry ON signature_claims(expires_at);
