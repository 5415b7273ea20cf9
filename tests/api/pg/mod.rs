//! The PostgreSQL engine on real throwaway clusters (`support/postgres.rs`); set-ups in
//! `helpers/pg.rs`.

mod kill;
mod registration;
mod reused_pids;
mod saturation;
mod stalled;
