//! The PostgreSQL engine (issue #14) against throwaway clusters (`support/postgres.rs`), one
//! file per area, set-ups in `helpers/pg.rs`: what is never killed, what the db user's
//! privileges allow, kill rules on an `in03` instance, the CLI and the console. Tests that kill
//! by a user other tests share (`postgres`) or that need server backends of their own (a
//! walsender, parallel workers) start a private cluster; the others isolate themselves on the
//! shared one with fresh roles and databases.

mod cli;
mod console;
mod privileges;
mod protections;
mod rules;
