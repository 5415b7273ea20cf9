//! Shared helpers for integration tests; include with `mod support;`.

pub mod mariadb;
pub mod postgres;
pub mod proxy;
pub mod server_process;
