//! dbkill kills MySQL-family sessions by user, by database or by session id, speaking the
//! Huawei Cloud DAS v3 session API.
//!
//! Data flow of a kill:
//! `http::auth` (token → [`http::auth::Principal`]) → `http` extractors (path ids, JSON → domain
//! types) → `service` (project → instance → db user, role check) → `engine` (list sessions) →
//! `planner` (pure: sessions + filters + protections → plan) → `store` (history before the KILL) →
//! `engine` (execute) → `report`.
//!
//! Modules: [`config`] settings, [`startup`] the running application, [`http`] routes and the one
//! error mapping, [`domain`] pure types, [`secrets`] keys/tokens/passwords, [`store`] persistence,
//! [`engine`] target database drivers, [`cli`] the client subcommands over the REST API.
#![forbid(unsafe_code)]

pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod engine;
pub mod error;
pub mod http;
pub mod planner;
pub mod report;
pub mod secrets;
pub mod service;
pub mod signing;
pub mod startup;
pub mod store;
