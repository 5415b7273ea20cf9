-- Kill history. No foreign key to instances: history outlives a deleted instance.
CREATE TABLE kill_requests (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL,
    instance_id   TEXT NOT NULL,
    db_user_id    TEXT NOT NULL,
    source        TEXT NOT NULL,
    kill_type     TEXT NOT NULL,
    filter_json   TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    finished_at   INTEGER
);

-- One row per targeted session: written as `planned` before any KILL, updated with the outcome.
CREATE TABLE kill_sessions (
    request_id   TEXT NOT NULL REFERENCES kill_requests(id) ON DELETE CASCADE,
    session_id   INTEGER NOT NULL,
    user         TEXT NOT NULL,
    host         TEXT NOT NULL,
    db           TEXT NOT NULL,
    command      TEXT NOT NULL,
    time         INTEGER NOT NULL,
    state        TEXT NOT NULL,
    info         TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    error_code   TEXT,
    kill_time    INTEGER,
    PRIMARY KEY (request_id, session_id)
);
CREATE INDEX kill_sessions_killed ON kill_sessions(outcome, kill_time);
