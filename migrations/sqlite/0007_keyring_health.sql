-- The master key's check value: a constant sealed under the key the store's secrets are sealed
-- with, so a start with another key fails at once, and an interrupted rotation can tell which
-- of two keys is current. One row.
CREATE TABLE keyring (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    key_check   TEXT NOT NULL,
    sealed_at   INTEGER NOT NULL
);

-- What /healthz writes to prove the store can write. One row.
CREATE TABLE health (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at  INTEGER NOT NULL
);
