//! DAS's session list with its statistics (ListPostgresProcesses, `pg/query-process-list`),
//! pure: one listing of an instance → the sessions the caller's filters keep, in the order and
//! page asked for, and the statistics DAS answers beside them. Engine-neutral: what is idle is
//! [`Session::is_idle`], what is not a client is [`is_system_thread`], so the same code serves
//! MySQL-family and PostgreSQL instances.
//!
//! Two sets are involved. The *scope* is every session that passes the filters other than
//! `show_all` (`hide_sys`, `user`, `host`, `db`, `state`, `command`, `keywords`, `time`); the
//! statistics are over the scope, so idle sessions are counted even while `show_all` hides them
//! from the rows. The *rows* are the scope without its idle sessions unless `show_all`; `total`
//! counts them and the page is cut from them.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use crate::domain::Session;
use crate::planner::{client_address, is_system_thread};

/// What a row shows for a session without a current database (as ListProcesses does).
pub const NO_DATABASE: &str = "--";

/// The database a row shows: its name, or [`NO_DATABASE`].
pub fn db_of(s: &Session) -> &str {
    s.database.as_deref().unwrap_or(NO_DATABASE)
}

/// The column rows are ordered by; ties are broken by ascending id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OrderBy {
    #[default]
    Id,
    User,
    Host,
    Db,
    Command,
    Time,
    State,
}

impl OrderBy {
    pub const NAMES: &'static [&'static str] =
        &["id", "user", "host", "db", "command", "time", "state"];

    /// One of [`OrderBy::NAMES`], ignoring case.
    pub fn parse(s: &str) -> Option<Self> {
        let all = [
            Self::Id,
            Self::User,
            Self::Host,
            Self::Db,
            Self::Command,
            Self::Time,
            Self::State,
        ];
        Self::NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(s))
            .map(|i| all[i])
    }

    fn compare(self, a: &Session, b: &Session) -> Ordering {
        match self {
            Self::Id => a.id.cmp(&b.id),
            Self::User => a.user.cmp(&b.user),
            Self::Host => a.host.cmp(&b.host),
            Self::Db => db_of(a).cmp(db_of(b)),
            Self::Command => a.command.cmp(&b.command),
            Self::Time => a.time.cmp(&b.time),
            Self::State => a.state.cmp(&b.state),
        }
    }
}

/// The caller's filters, order and page. Absent filters always hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// Equal to the account name.
    pub user: Option<String>,
    /// Equal to the host as listed (`10.0.0.5:51234`), or to its address without the port
    /// (`10.0.0.5`), the form the host list and the host statistics show.
    pub host: Option<String>,
    /// Equal to the database a row shows ([`db_of`]: `--` for none).
    pub db: Option<String>,
    /// Equal to the state.
    pub state: Option<String>,
    /// Equal to the command, ignoring case.
    pub command: Option<String>,
    /// A substring of the SQL text, ignoring case; a session without SQL never matches.
    pub keywords: Option<String>,
    /// Only sessions at least this many seconds in their current state.
    pub min_time: Option<i64>,
    /// Rows include idle sessions.
    pub show_all: bool,
    /// Leave out what is not a client (system, replication and background threads).
    pub hide_sys: bool,
    pub order_by: OrderBy,
    pub descending: bool,
    /// 1-based.
    pub cur_page: u32,
    pub per_page: u32,
}

impl Default for ListQuery {
    /// DAS's defaults: idle sessions and system threads hidden, page 1 of 10 rows by id.
    fn default() -> Self {
        Self {
            user: None,
            host: None,
            db: None,
            state: None,
            command: None,
            keywords: None,
            min_time: None,
            show_all: false,
            hide_sys: true,
            order_by: OrderBy::Id,
            descending: false,
            cur_page: 1,
            per_page: 10,
        }
    }
}

impl ListQuery {
    /// Whether `s` is in the scope (every filter but `show_all`).
    fn in_scope(&self, s: &Session) -> bool {
        !(self.hide_sys && is_system_thread(s))
            && self.user.as_ref().is_none_or(|u| &s.user == u)
            && self
                .host
                .as_ref()
                .is_none_or(|h| &s.host == h || client_address(&s.host) == h)
            && self.db.as_ref().is_none_or(|d| db_of(s) == d)
            && self.state.as_ref().is_none_or(|st| &s.state == st)
            && self
                .command
                .as_ref()
                .is_none_or(|c| s.command.eq_ignore_ascii_case(c))
            && self.keywords.as_ref().is_none_or(|k| {
                s.sql
                    .as_deref()
                    .is_some_and(|sql| sql.to_lowercase().contains(&k.to_lowercase()))
            })
            && self.min_time.is_none_or(|t| s.time >= t)
    }
}

/// Active sessions of the scope by how long they have been in their state; the bounds are
/// whole seconds: `<1s` is 0, `1-3s` is 1 and 2, `3-10s` is 3 to 10, `>10s` is 11 and more.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecTimeBuckets {
    pub under_1s: usize,
    pub from_1s_to_3s: usize,
    pub from_3s_to_10s: usize,
    pub over_10s: usize,
}

impl ExecTimeBuckets {
    fn add(&mut self, seconds: i64) {
        match seconds {
            ..1 => self.under_1s += 1,
            1..3 => self.from_1s_to_3s += 1,
            3..=10 => self.from_3s_to_10s += 1,
            _ => self.over_10s += 1,
        }
    }
}

/// The sessions of the scope that share one user, host address or database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupCount {
    pub name: String,
    /// Those that are not idle.
    pub active: usize,
    pub total: usize,
}

/// The statistics DAS answers with the rows, all over the scope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListStats {
    /// Distinct non-empty values, ascending: accounts, databases as rows show them, host
    /// addresses without their ports, states, commands.
    pub users: Vec<String>,
    pub dbs: Vec<String>,
    pub hosts: Vec<String>,
    pub states: Vec<String>,
    pub commands: Vec<String>,
    pub exec_time: ExecTimeBuckets,
    pub idle: usize,
    pub active: usize,
    /// Sessions per command (for PostgreSQL: per backend state), most first, then by name.
    pub by_command: Vec<(String, usize)>,
    /// Per account, per host address (without the port), per database; most sessions first,
    /// then by name.
    pub by_user: Vec<GroupCount>,
    pub by_host: Vec<GroupCount>,
    pub by_db: Vec<GroupCount>,
}

/// One page of rows, how many rows there are in all, and the statistics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessList {
    pub page: Vec<Session>,
    pub total: usize,
    pub stats: ListStats,
}

/// Applies `q` to one listing of an instance.
pub fn process_list(sessions: Vec<Session>, q: &ListQuery) -> ProcessList {
    let scope: Vec<Session> = sessions.into_iter().filter(|s| q.in_scope(s)).collect();
    let stats = statistics(&scope);
    let mut rows: Vec<Session> = scope
        .into_iter()
        .filter(|s| q.show_all || !s.is_idle())
        .collect();
    rows.sort_by(|a, b| {
        let primary = q.order_by.compare(a, b);
        let primary = if q.descending {
            primary.reverse()
        } else {
            primary
        };
        primary.then(a.id.cmp(&b.id))
    });
    let total = rows.len();
    let per_page = q.per_page as usize;
    let skip = (q.cur_page.max(1) as usize - 1).saturating_mul(per_page);
    let page = rows.into_iter().skip(skip).take(per_page).collect();
    ProcessList { page, total, stats }
}

#[derive(Default)]
struct Groups(BTreeMap<String, (usize, usize)>);

impl Groups {
    fn add(&mut self, name: &str, active: bool) {
        let (a, t) = self.0.entry(name.to_owned()).or_default();
        *a += usize::from(active);
        *t += 1;
    }

    fn names(&self) -> Vec<String> {
        self.0.keys().filter(|k| !k.is_empty()).cloned().collect()
    }

    /// Most sessions first; equal counts by name (the map's order, kept by a stable sort).
    fn counts(self) -> Vec<GroupCount> {
        let mut out: Vec<GroupCount> = self
            .0
            .into_iter()
            .map(|(name, (active, total))| GroupCount {
                name,
                active,
                total,
            })
            .collect();
        out.sort_by_key(|g| std::cmp::Reverse(g.total));
        out
    }
}

fn statistics(scope: &[Session]) -> ListStats {
    let (mut users, mut hosts, mut dbs) = (Groups::default(), Groups::default(), Groups::default());
    let mut commands: BTreeMap<String, usize> = BTreeMap::new();
    let mut states = BTreeSet::new();
    let mut stats = ListStats::default();
    for s in scope {
        let active = !s.is_idle();
        if active {
            stats.active += 1;
            stats.exec_time.add(s.time);
        } else {
            stats.idle += 1;
        }
        users.add(&s.user, active);
        hosts.add(client_address(&s.host), active);
        dbs.add(db_of(s), active);
        *commands.entry(s.command.clone()).or_default() += 1;
        if !s.state.is_empty() {
            states.insert(s.state.clone());
        }
    }
    stats.users = users.names();
    stats.hosts = hosts.names();
    stats.dbs = dbs.names();
    stats.states = states.into_iter().collect();
    stats.commands = commands.keys().filter(|c| !c.is_empty()).cloned().collect();
    let mut by_command: Vec<(String, usize)> = commands.into_iter().collect();
    by_command.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    stats.by_command = by_command;
    stats.by_user = users.counts();
    stats.by_host = hosts.counts();
    stats.by_db = dbs.counts();
    stats
}

#[cfg(test)]
mod tests;
