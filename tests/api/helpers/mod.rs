//! What the test modules share: the running service and its client (`app`), set-ups on a real
//! server (`fixtures`), `dbkill serve` as a child process (`serve`), requests signed as the SDKs sign
//! them (`signed`), assertions on DAS error answers (`errors`), the kill-rule endpoints (`rules`),
//! victim sessions of every kind (`sessions`) and a webhook receiver (`webhook`).

pub mod app;
pub mod errors;
pub mod fixtures;
pub mod pki;
pub mod raw_http;
pub mod rules;
pub mod serve;
pub mod sessions;
pub mod signed;
pub mod webhook;
