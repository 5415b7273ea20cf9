//! Pure domain vocabulary: identifiers, roles and callers, engine kinds and the sessions a server
//! reports.
//! Nothing here knows about HTTP, SQL or async; every type parses from untrusted text with `parse`.

mod datastore;
mod ids;
mod kill;
mod principal;
mod role;
mod rule;
mod session;
mod tls;

pub use datastore::{DatastoreType, DbUserDatastore};
pub use ids::{DbUserId, InstanceId, ProjectId, SessionId, UserId};
pub use kill::{KillFilter, KillType};
pub use principal::Principal;
pub use role::Role;
pub use rule::{RuleConditions, RuleMode, RuleSpec, RuleSwitch, TaskState};
pub use session::Session;
pub use tls::{TlsFailure, TlsMode};
