//! DAS's two PostgreSQL operations, `pg/query-process-list` and `kill-process`, which act as the
//! instance's default db user and work on every engine: the list's filters, pages, orders and
//! statistics (`listing`), killing id/user pairs (`kill`), and the official SDK driving both
//! (`sdk`, one test per kind of instance).

mod kill;
mod listing;
mod sdk;

/// What the default db user may do: see and kill every session.
const KILLER_GRANTS: &str = "PROCESS, CONNECTION ADMIN";
