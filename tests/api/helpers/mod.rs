//! What the test modules share: the running service and its client (`app`), the `dbkill` binary
//! as a client (`cli`), set-ups on a real server (`fixtures`), `dbkill serve` as a child process
//! (`serve`), requests signed as the SDKs sign them (`signed`) and the official SDK's scripts
//! (`sdk`), kill rules through the auto-flow API as one typed value per instance (`rules`), DAS's
//! PostgreSQL operations on an instance (`pg_ops`), PostgreSQL set-ups and victim backends
//! (`pg`), victim sessions of every kind (`sessions`), a webhook receiver (`webhook`),
//! `/metrics` samples (`metrics`), assertions on DAS error answers (`errors`), and the console's
//! browser scenarios (`browser`).

pub mod app;
pub mod browser;
pub mod cli;
pub mod errors;
pub mod fixtures;
pub mod metrics;
pub mod orphans;
pub mod pg;
pub mod pg_ops;
pub mod pki;
pub mod raw_http;
pub mod rules;
pub mod sdk;
pub mod serve;
pub mod sessions;
pub mod signed;
pub mod store_backend;
pub mod webhook;
