//! dbkill lists and kills MySQL/MariaDB sessions by user, by database or by session id,
//! speaking the Huawei Cloud DAS v3 session API. `ARCHITECTURE.md` has the one-page tour.
//!
//! Data flow of a kill:
//! `http::auth` (token or AK/SK signature → [`domain::Principal`]) → `http` extractors (path ids,
//! JSON → domain types) → [`service`] (role, then project → instance → db user: an access value)
//! → [`engine`] (list sessions) → [`planner`] (pure: sessions + filters + protections → plan) →
//! [`store`] (intent before the first KILL) → [`engine`] (execute) → verify → [`store`]
//! (outcomes) → [`report`] → `http` (DAS shapes; the one error mapping).
//!
//! Layers, top to bottom; nothing imports a layer above it, and nothing below [`http`] imports
//! [`http`]:
//! - [`http`]: routes, authentication, rate limits, request parsing, errors → responses, the
//!   console's static files. [`cli`]: the client subcommands over the REST API.
//! - [`service`]: authorisation as a type, the db-user life cycle, listing and killing in
//!   named phases, lifelines. [`startup`]: the running application; [`config`]: settings;
//!   [`keyring`]: the master key a store is sealed with, and its rotation; [`data_dir`]: its
//!   mode and lock.
//! - [`engine`]: target drivers (one per engine, chosen in one place); [`store`]: persistence;
//!   [`secrets`]: keys, sealing, tokens, passwords; [`signing`]: AK/SK signatures;
//!   [`notify`]: webhook events of kill rules, delivered in the background.
//! - Pure: [`domain`] types, [`planner`], [`process_list`] (DAS's session list with its
//!   statistics), [`report`], [`error`] (the API's error vocabulary), [`wire`] (session shapes
//!   the server writes and the CLI reads), [`clock`].
#![forbid(unsafe_code)]

pub mod cli;
pub mod clock;
pub mod config;
pub mod data_dir;
pub mod domain;
pub mod engine;
pub mod error;
pub mod http;
pub mod keyring;
pub mod notify;
pub mod planner;
pub mod process_list;
pub mod report;
pub mod secrets;
pub mod service;
pub mod signing;
pub mod startup;
pub mod store;
pub mod wire;
