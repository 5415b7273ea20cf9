//! The operations on targets, free of HTTP: authorisation as a type ([`InstanceAccess`] and
//! friends, made only here), the db-user life cycle, listing and killing sessions, lifelines,
//! and the reconciliation of kills whose outcome never made it to the history.
//! Callers (the HTTP layer today, the rule runner next) hold a [`Services`] and an access value;
//! only an access obtained here leads to a driver that can kill. Errors are [`DasError`]s:
//! engine errors are mapped here, in `errors`.
//!
//! [`DasError`]: crate::error::DasError

mod access;
mod context;
mod db_users;
mod errors;
mod health;
mod in_flight;
mod instances;
mod kill;
mod kill_process;
mod lifelines;
mod process_list;
mod processes;
mod reconcile;
mod replica;
mod rules;
mod target;

pub use access::{DbUserAccess, InstanceAccess, ProjectAccess};
pub use context::{KillSettings, Services};
pub use db_users::DbUserCredentials;
pub use health::StoreHealth;
pub use kill::KillRequest;
use kill::{KillPart, KillTiming, SentUnder};
pub use kill_process::{KillProcessOrigin, ProcessPair};
pub use processes::ProcessPage;
pub use rules::RulePreview;
