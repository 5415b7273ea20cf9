//! The PostgreSQL engine (issue #14) against throwaway clusters (`support/postgres.rs`): what
//! is never killed, what the db user's privileges allow, and kill rules on an `in03` instance.
//! Tests that kill by a user other tests share (`postgres`) or that need server backends of
//! their own (a walsender, parallel workers) start a private cluster; the others isolate
//! themselves on the shared one with fresh roles and databases.

mod privileges;
mod protections;
mod rules;
