-- The whole plan is recorded as one JSON row before the first KILL (one statement, even for
-- 10,000 sessions); per-session rows are written with their outcomes once the KILLs answered.
ALTER TABLE kill_requests ADD COLUMN plan_json TEXT NOT NULL DEFAULT '[]';
