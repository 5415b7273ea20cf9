-- When each killed session began, where the engine reuses session ids (PostgreSQL's pids,
-- Unix µs of backend_start): a reconciliation then tells the killed session from a newer one
-- that was given its id. NULL for MySQL-family sessions, whose ids are never reused.
ALTER TABLE kill_sessions ADD COLUMN started INTEGER;
