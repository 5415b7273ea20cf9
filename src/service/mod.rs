//! Authorisation, resolution and the operations on targets: a caller's role on a project, the
//! project, instance and db user it names, then listing and killing sessions. Only an [`Access`]
//! obtained here leads to a driver that can kill.

mod access;
mod kill;
mod lifelines;
mod processes;
mod target;

pub use access::{Access, authorize, resolve_db_user, resolve_instance};
pub use kill::{KillCommand, kill_sessions};
pub use lifelines::{warm, warm_all};
pub use processes::{ProcessPage, list_processes};
