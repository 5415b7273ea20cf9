-- The kill report's request_id (the X-Request-Id the caller saw), so history rows can be found
-- by it; `id` stays the row's own key. Sessions whose outcome a reconciliation inferred after
-- dbkill stopped (crash, deadline, stalled server) before it could record one are `interrupted`.
ALTER TABLE kill_requests ADD COLUMN request_id TEXT NOT NULL DEFAULT '';
CREATE INDEX kill_requests_request_id ON kill_requests(request_id);
-- Requests with an intent and no outcomes: what reconciliation looks for at start.
CREATE INDEX kill_requests_unfinished ON kill_requests(created_at) WHERE finished_at IS NULL;
ALTER TABLE kill_sessions ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0;
-- Sessions whose KILL was delivered to a server that stopped answering: reconciled later.
CREATE INDEX kill_sessions_uncertain ON kill_sessions(request_id) WHERE outcome = 'uncertain';
