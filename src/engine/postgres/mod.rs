//! PostgreSQL targets: one lifeline connection per (instance, db user) with
//! `application_name = 'dbkill'` and a server-side `statement_timeout`, listing from
//! `pg_stat_activity` narrowed on the server, and `pg_terminate_backend` / `pg_cancel_backend`
//! sent for many pids in one statement that checks each pid's `backend_start` in the same
//! statement (pids are reused). This build has no TLS to PostgreSQL: `preferred` and `disabled`
//! connect plain, and the instance API refuses the other modes.
//!
//! sqlx's PostgreSQL driver, not tokio-postgres: it is already compiled in (the store uses sqlx),
//! and every call here is one round trip on one connection that is dropped when a call is cut
//! short, so tokio-postgres's pipelining and cancel tokens would add a dependency for nothing;
//! the server's own `statement_timeout` ends a statement whose client went away.

mod connect;
mod driver;
mod rows;
mod signal;
mod sql;

pub use connect::check_login;
pub use driver::PgDriver;
