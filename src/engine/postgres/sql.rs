//! The statements the PostgreSQL driver sends. Times are whole seconds as MySQL's processlist
//! gives them; a session's start is Unix µs of `backend_start` (exact: `extract` is numeric
//! from PostgreSQL 14 on, and a double holds µs of this century exactly before that).

use crate::domain::KillType;

/// `backend_start` as Unix µs; NULL where the row is not visible to the db user.
macro_rules! started {
    ($alias:literal) => {
        concat!(
            "(extract(epoch FROM ",
            $alias,
            "backend_start) * 1000000)::int8"
        )
    };
}

/// Identity of the server (its start time and port, the same through any address of it) and
/// this connection's pid.
pub const IDENTITY: &str = "SELECT pg_backend_pid(), \
     pg_postmaster_start_time()::text || ':' || current_setting('port')";

/// Every backend, narrowed on the server by pids ($1), or by user ($2) and database ($3).
pub const LIST: &str = concat!(
    "SELECT pid, usename, datname, host(client_addr) AS addr, client_port, ",
    started!(""),
    " AS started, state, wait_event_type, wait_event, query, backend_type, application_name, \
     COALESCE(GREATEST(0, floor(extract(epoch FROM now() - \
        CASE WHEN state = 'active' THEN query_start ELSE state_change END))), 0)::int8 AS time, \
     COALESCE(GREATEST(0, floor(extract(epoch FROM now() - xact_start))), 0)::int8 AS trx \
     FROM pg_stat_activity \
     WHERE ($1::int4[] IS NULL OR pid = ANY($1)) \
       AND ($2::text IS NULL OR usename = $2) \
       AND ($3::text IS NULL OR datname = $3) \
     ORDER BY pid"
);

/// The given pids that are still there, with what they run.
pub const PRESENCE: &str = concat!(
    "SELECT pid, ",
    started!(""),
    " AS started, state, query FROM pg_stat_activity WHERE pid = ANY($1)"
);

/// Age of each given pid's open transaction.
pub const TRX_AGES: &str = "SELECT pid, \
     GREATEST(0, floor(extract(epoch FROM now() - xact_start)))::int8 \
     FROM pg_stat_activity WHERE pid = ANY($1) AND xact_start IS NOT NULL";

pub const CONNECTED: &str = "SELECT count(*) FROM pg_stat_activity";

/// Signals each (pid $1[i], start $2[i]) that is still that session, in one statement: the row
/// check and the signal happen together, so a pid reused since the listing is never signalled.
/// A session the db user may not signal is answered `denied` without calling the function
/// (whose 42501 would abort the whole statement, after the rows before it were signalled):
/// superuser and role-less backends need a superuser; others the privileges of their role or
/// of pg_signal_backend (`USAGE`: PostgreSQL 14+'s `has_privs_of_role`; on older servers, where
/// mere membership sufficed, a member that does not inherit is refused here, never wrongly
/// reported). `gone`: the function
/// found no such backend any more (it answered false with a warning).
pub fn signal(kill_type: KillType) -> String {
    format!(
        "WITH me AS (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) \
         SELECT a.pid, CASE \
           WHEN NOT me.rolsuper AND COALESCE(r.rolsuper, true) THEN 'denied_superuser' \
           WHEN NOT me.rolsuper AND NOT pg_has_role(a.usesysid, 'USAGE') \
                AND NOT pg_has_role('pg_signal_backend', 'USAGE') THEN 'denied' \
           WHEN {function}(a.pid) THEN 'signalled' \
           ELSE 'gone' END AS outcome \
         FROM unnest($1::int4[], $2::int8[]) AS t(pid, started) \
         JOIN pg_stat_activity a ON a.pid = t.pid AND {started} = t.started \
         LEFT JOIN pg_roles r ON r.oid = a.usesysid \
         CROSS JOIN me",
        function = signal_function(kill_type),
        started = started!("a."),
    )
}

fn signal_function(kill_type: KillType) -> &'static str {
    match kill_type {
        KillType::Connection => "pg_terminate_backend",
        KillType::Query => "pg_cancel_backend",
    }
}
