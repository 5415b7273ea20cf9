//! Kill rules (issue #13) against a real throwaway mariadbd: what a rule kills and when, what it
//! never kills, each condition, preview against the kills that follow, the switch, terminate,
//! duration, observe, the per-minute limit, pauses and their webhook events, the history of rule
//! kills, kill-all-session, roles and validation, and the instance's default db user.
//!
//! A rule that is not narrowed to a test's own user would kill other tests' sessions on the
//! shared server, so those tests start a private server ([`private_server`]).

mod conditions;
mod default_db_user;
mod kill_all;
mod lifecycle;
mod never_killed;
mod preview;
mod reaction;
mod roles_and_validation;
mod safety;

use crate::support::mariadb::{MariaDb, MariaDbOptions};

/// What a db user needs to list and kill other accounts' sessions.
const KILLER_GRANTS: &str = "PROCESS, CONNECTION ADMIN";

/// A server of the test's own, with the event scheduler running. With `ip_hosts` it lists TCP
/// clients by address (`127.0.0.1:<port>`, `--skip-name-resolve`) rather than as
/// `localhost:<port>`, so they differ from unix-socket clients (`localhost`) after the port is
/// cut off.
fn private_server(ip_hosts: bool) -> MariaDb {
    let extra_args = if ip_hosts {
        vec!["--skip-name-resolve".to_owned()]
    } else {
        vec![]
    };
    MariaDb::start(MariaDbOptions {
        event_scheduler: true,
        extra_args,
        ..MariaDbOptions::default()
    })
}
