-- Kill rules (DAS "kill tasks"): conditions, how they act, their state and counters. They go with
-- their instance; the history of their kills stays (kill_requests has no foreign key).
CREATE TABLE kill_rules (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id            TEXT NOT NULL,
    instance_id           TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
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
    cond_time             INTEGER NOT NULL,
    cond_min_trx_time     INTEGER,
    kill_type             TEXT NOT NULL,
    mode                  TEXT NOT NULL,
    max_kills_per_minute  INTEGER NOT NULL,
    pause_above           INTEGER NOT NULL,
    -- Seconds, -1 = until stopped.
    task_duration         INTEGER NOT NULL,
    -- DAS task_state: 1 running, 2 stopped, 3 finished, 4 paused.
    state                 INTEGER NOT NULL,
    start_time            INTEGER NOT NULL,
    -- 0 when task_duration is -1.
    end_time              INTEGER NOT NULL,
    matched_total         INTEGER NOT NULL DEFAULT 0,
    killed_total          INTEGER NOT NULL DEFAULT 0,
    last_kill_time        INTEGER
);
CREATE INDEX kill_rules_instance ON kill_rules(instance_id, state);

-- The per-instance switch (rules run only while it is on) and the db user rules act as by default.
ALTER TABLE instances ADD COLUMN rule_switch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN default_db_user_id TEXT;

-- Which rule a kill came from; 0 for kills someone asked for.
ALTER TABLE kill_requests ADD COLUMN task_id INTEGER NOT NULL DEFAULT 0;
