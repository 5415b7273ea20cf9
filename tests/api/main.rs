//! The integration suite: the real service on port 0 (`spawn_app`) against a throwaway store,
//! and a throwaway mariadbd (or PostgreSQL cluster, `support/postgres.rs`) for everything that
//! touches a database. Shared helpers live in `helpers/`.

#[path = "../support/mod.rs"]
mod support;

mod helpers;

mod body_before_auth;
mod cli;
mod cli_rules;
mod connections;
mod console;
mod console_rules;
mod crash_recovery;
mod db_users;
mod deadlines;
mod descriptors;
mod errors;
mod executor;
mod history;
mod https;
mod identity;
mod instances;
mod kill_semantics;
mod kill_validation;
mod master_key;
mod openapi;
mod pg;
mod pg_ops;
mod protections;
mod rate_limits;
mod replay;
mod replicas;
mod rules;
mod rules_faults;
mod rules_restart;
mod rules_sdk;
mod secrets;
mod signing;
mod store;
mod store_health;
mod store_outage;
mod strict_transport;
mod target_tls;
mod throwaway_mariadb;
mod throwaway_postgres;
