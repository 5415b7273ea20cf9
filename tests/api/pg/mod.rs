//! Everything of `spec/api.md` "PostgreSQL instances" on real backends of a throwaway cluster
//! (`support/postgres.rs`), one file per area; set-ups in `helpers/pg.rs`.

mod cli;
mod console;
