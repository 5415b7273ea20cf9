-- Several replicas share this store. Times here are the store's own clock (Unix ms from now()),
-- so the replicas' clocks need not agree.

-- Each live replica, renewed by its heartbeat; a clean shutdown deletes its row.
CREATE TABLE replicas (
    name        TEXT PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);

-- Which replica runs an instance's kill rules. `version` grows with every change of holder and
-- fences a tick's intent: it is checked in the transaction that records it.
CREATE TABLE rule_leases (
    instance_id  TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    version      BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

-- Signatures (their hashes) already used, shared so a signed request cannot be replayed on
-- another replica; purged once expired.
CREATE TABLE signature_claims (
    key         TEXT PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX signature_claims_expiry ON signature_claims (expires_at);
