//! DAS's two PostgreSQL operations, `pg/query-process-list` and `kill-process`, which act as the
//! instance's default db user and work on every engine: the list's filters, pages, orders and
//! statistics (`listing` on MariaDB, `pg_listing` on PostgreSQL), killing id/user pairs
//! (`kill`, `pg_kill`), and the official SDK driving both (`sdk`, one test per kind of
//! instance). PostgreSQL set-ups are in `helpers/pg.rs`.

mod kill;
mod listing;
mod pg_kill;
mod pg_listing;
mod sdk;

/// What the MariaDB default db user may do: see and kill every session.
const KILLER_GRANTS: &str = "PROCESS, CONNECTION ADMIN";
