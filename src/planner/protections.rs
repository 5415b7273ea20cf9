//! Named, ordered protections. A session is a candidate only if it has a real account and a client
//! command (an allow-list: MySQL's client commands, PostgreSQL's client backend states; any
//! other thread or backend type is a system thread), is not one of dbkill's own connections,
//! not a protected user, and not already being killed. The first protection that applies names
//! the skip reason.

use std::collections::HashSet;

use crate::domain::{Session, SessionId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkipReason {
    OwnConnection,
    SystemThread,
    ProtectedUser,
    AlreadyKilled,
    NotMatched,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::OwnConnection => "own_connection",
            SkipReason::SystemThread => "system_thread",
            SkipReason::ProtectedUser => "protected_user",
            SkipReason::AlreadyKilled => "already_killed",
            SkipReason::NotMatched => "not_matched",
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Protections {
    /// Every connection dbkill itself holds on this server.
    pub own_ids: HashSet<SessionId>,
    /// The instance's `protected_users`, compared exactly.
    pub protected_users: Vec<String>,
}

/// Accounts the server uses for its own threads; never a client.
const SYSTEM_USERS: [&str; 5] = [
    "system user",
    "event_scheduler",
    "unauthenticated user",
    "DELAYED",
    "",
];

/// Commands a client connection can be in. Anything else (Daemon, Binlog Dump, Slave_*, Connect,
/// Register Slave, …) is a server or replication thread.
const CLIENT_COMMANDS: [&str; 22] = [
    "Sleep",
    "Query",
    "Execute",
    "Prepare",
    "Fetch",
    "Close stmt",
    "Reset stmt",
    "Long Data",
    "Field List",
    "Init DB",
    "Change user",
    "Set option",
    "Ping",
    "Statistics",
    "Processlist",
    "Debug",
    "Time",
    "Refresh",
    "Create DB",
    "Drop DB",
    "Reset connection",
    "Bulk_execute",
];

/// PostgreSQL: the `state` of a client backend (its `command` here). A row whose state the db
/// user may not see has none, and is not known to be a client.
const CLIENT_STATES: [&str; 6] = [
    "active",
    "idle",
    "idle in transaction",
    "idle in transaction (aborted)",
    "fastpath function call",
    "disabled",
];

/// Not a client: a server, replication or background thread (also what a listing's `hide_sys`
/// hides).
pub fn is_system_thread(s: &Session) -> bool {
    let command = s.command.as_str();
    SYSTEM_USERS.contains(&s.user.as_str())
        || s.foreground == Some(false)
        || !(CLIENT_COMMANDS.contains(&command)
            || CLIENT_STATES.contains(&command)
            || command == "Killed")
}

/// The protection that keeps `s` alive, if any, checked in a fixed order.
pub fn protection_of(s: &Session, p: &Protections) -> Option<SkipReason> {
    if p.own_ids.contains(&s.id) {
        Some(SkipReason::OwnConnection)
    } else if is_system_thread(s) {
        Some(SkipReason::SystemThread)
    } else if p.protected_users.iter().any(|u| u == &s.user) {
        Some(SkipReason::ProtectedUser)
    } else if s.command == "Killed" {
        Some(SkipReason::AlreadyKilled)
    } else {
        None
    }
}
