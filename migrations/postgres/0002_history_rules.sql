-- Kill history and kill rules. History has no foreign key to instances: it outlives a deleted
-- instance.
CREATE TABLE kill_requests (
    id            TEXT PRIMARY KEY,
    -- The kill report's request_id (the caller's X-Request-Id), by which history is found.
    request_id    TEXT NOT NULL DEFAULT '',
    project_id    TEXT NOT NULL,
    instance_id   TEXT NOT NULL,
    db_user_id    TEXT NOT NULL,
    source        TEXT NOT NULL,
    -- The rule that killed; 0 for kills someone asked for.
    task_id       BIGINT NOT NULL DEFAULT 0,
    kill_type     TEXT NOT NULL,
    filter_json   TEXT NOT NULL,
    -- The whole plan as one JSON array, written before the first KILL.
    plan_json     TEXT NOT NULL DEFAULT '[]',
    -- The replica that recorded it ('' for one store per process).
    replica       TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    finished_at   BIGINT
);
CREATE INDEX kill_requests_request_id ON kill_requests (request_id);
CREATE INDEX kill_requests_instance ON kill_requests (instance_id);
-- Requests with an intent and no outcomes: what reconciliation looks for.
CREATE INDEX kill_requests_unfinished ON kill_requests (created_at) WHERE finished_at IS NULL;

-- One row per targeted session, written with its outcome once the KILLs answered.
CREATE TABLE kill_sessions (
    request_id   TEXT NOT NULL REFERENCES kill_requests (id) ON DELETE CASCADE,
    session_id   BIGINT NOT NULL,
    -- The session's account ("user" is reserved in PostgreSQL).
    username     TEXT NOT NULL,
    host         TEXT NOT NULL,
    db           TEXT NOT NULL,
    command      TEXT NOT NULL,
    time         BIGINT NOT NULL,
    state        TEXT NOT NULL,
    info         TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    error_code   TEXT,
    kill_time    BIGINT,
    -- Settled by a reconciliation after dbkill (or the server) stopped mid-kill.
    interrupted  BOOLEAN NOT NULL DEFAULT FALSE,
    -- Unix µs the session began, where the engine reuses ids (PostgreSQL's pids).
    started      BIGINT,
    PRIMARY KEY (request_id, session_id)
);
CREATE INDEX kill_sessions_killed ON kill_sessions (outcome, kill_time);
CREATE INDEX kill_sessions_uncertain ON kill_sessions (request_id) WHERE outcome = 'uncertain';

-- Kill rules (DAS "kill tasks"); they go with their instance, their history stays.
CREATE TABLE kill_rules (
    id                    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id            TEXT NOT NULL,
    instance_id           TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    -- NULL: the instance's default db user at each tick.
    db_user_id            TEXT,
    name                  TEXT NOT NULL,
    task_type             TEXT NOT NULL,
    cond_user             TEXT,
    cond_host             TEXT,
    cond_db               TEXT,
    cond_command          TEXT,
    cond_info             TEXT,
    cond_state            TEXT,
    cond_time             BIGINT NOT NULL,
    cond_min_trx_time     BIGINT,
    kill_type             TEXT NOT NULL,
    mode                  TEXT NOT NULL,
    max_kills_per_minute  BIGINT NOT NULL,
    pause_above           BIGINT NOT NULL,
    -- Seconds, -1 = until stopped.
    task_duration         BIGINT NOT NULL,
    -- DAS task_state: 1 running, 2 stopped, 3 finished, 4 paused.
    state                 BIGINT NOT NULL,
    start_time            BIGINT NOT NULL,
    -- 0 when task_duration is -1.
    end_time              BIGINT NOT NULL,
    matched_total         BIGINT NOT NULL DEFAULT 0,
    killed_total          BIGINT NOT NULL DEFAULT 0,
    last_kill_time        BIGINT
);
CREATE INDEX kill_rules_instance ON kill_rules (instance_id, state);
CREATE INDEX kill_rules_db_user ON kill_rules (db_user_id) WHERE db_user_id IS NOT NULL;
