//! Where each server flavor lists its sessions, and how its rows decode into [`Session`]s.
//! Pure: the SQL and the decoding are unit-tested against recorded rows (no MySQL server runs
//! here).

use mysql_async::Value;

use crate::domain::{Session, SessionId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// MariaDB: `information_schema.PROCESSLIST` (ID is signed there, hence the cast).
    MariaDb,
    /// MySQL ≥ 8.0.22 (or 5.7.39+): `performance_schema.processlist` joined to `threads`.
    MySqlPerfSchema,
    /// Older MySQL, or performance_schema off: `information_schema.PROCESSLIST`.
    MySqlInfoSchema,
}

impl Flavor {
    /// From `SELECT VERSION()`, e.g. `10.11.19-MariaDB-0+deb12u1` or `8.0.36`.
    pub fn detect(version: &str) -> Self {
        if version.to_ascii_lowercase().contains("mariadb") {
            return Flavor::MariaDb;
        }
        let nums: Vec<u32> = version
            .split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty())
            .take(3)
            .filter_map(|p| p.parse().ok())
            .collect();
        match nums.as_slice() {
            [8, 0, patch, ..] if *patch >= 22 => Flavor::MySqlPerfSchema,
            [major, ..] if *major > 8 => Flavor::MySqlPerfSchema,
            [8, minor, ..] if *minor > 0 => Flavor::MySqlPerfSchema,
            [5, 7, patch, ..] if *patch >= 39 => Flavor::MySqlPerfSchema,
            _ => Flavor::MySqlInfoSchema,
        }
    }

    /// The fallback when the preferred source fails (performance_schema off or not readable).
    pub fn fallback(self) -> Option<Flavor> {
        match self {
            Flavor::MySqlPerfSchema => Some(Flavor::MySqlInfoSchema),
            _ => None,
        }
    }

    /// Columns: id, user, host, db, command, time, state, info, then a ninth that
    /// [`Flavor::decode`] reads: foreground (1/0/NULL) on MySQL, progress on MariaDB.
    /// `pre` narrows the rows on the server where that is cheaper; the rows are a superset
    /// (the server compares names case-insensitively), and the planner applies the exact filters.
    pub fn list_sql(self, pre: &Prefilter<'_>) -> String {
        let head = match self {
            // MariaDB fills information_schema.PROCESSLIST with every thread into a temporary
            // table before any WHERE applies; SHOW FULL PROCESSLIST sends the same rows straight
            // from the thread list, in about half the time (BENCHMARKS.md, "Listing with SHOW
            // FULL PROCESSLIST"). That listing is what every kill waits for before its first KILL.
            Flavor::MariaDb => return "SHOW FULL PROCESSLIST".to_owned(),
            Flavor::MySqlPerfSchema => {
                "SELECT p.ID, p.USER, p.HOST, p.DB, p.COMMAND, p.TIME, p.STATE, p.INFO, \
                 t.TYPE = 'FOREGROUND' FROM performance_schema.processlist p \
                 LEFT JOIN performance_schema.threads t ON t.PROCESSLIST_ID = p.ID"
            }
            Flavor::MySqlInfoSchema => {
                "SELECT p.ID, p.USER, p.HOST, p.DB, p.COMMAND, p.TIME, p.STATE, p.INFO, NULL \
                 FROM information_schema.PROCESSLIST p"
            }
        };
        // No ORDER BY: the callers order in memory, and a sort on the server would hold it up
        // for every listing, the one before a kill included.
        format!("{head}{}", pre.where_clause())
    }

    /// Decodes one row of [`Flavor::list_sql`]; `None` for a row without a usable id.
    pub fn decode(self, row: &[Value]) -> Option<Session> {
        let session = decode_session(row)?;
        Some(match self {
            // The ninth column is MariaDB's progress, not a thread type.
            Flavor::MariaDb => Session {
                foreground: None,
                started: None,
                ..session
            },
            _ => session,
        })
    }

    /// Open transactions' ages in seconds for the given sessions (INNODB_TRX needs PROCESS).
    pub fn trx_sql(ids: &[SessionId]) -> String {
        format!(
            "SELECT trx_mysql_thread_id, TIMESTAMPDIFF(SECOND, trx_started, NOW()) \
             FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id IN ({})",
            id_list(ids)
        )
    }

    /// Ids (and what each runs) of the given sessions still listed: the verification step.
    /// MariaDB's rows are those of [`Flavor::list_sql`] (every session; the caller keeps the
    /// ids it asked for), for the reason given there.
    pub fn presence_sql(self, ids: &[SessionId]) -> String {
        let table = match self {
            Flavor::MariaDb => return self.list_sql(&Prefilter::default()),
            Flavor::MySqlPerfSchema => "performance_schema.processlist",
            Flavor::MySqlInfoSchema => "information_schema.PROCESSLIST",
        };
        format!(
            "SELECT ID, COMMAND, INFO FROM {table} WHERE ID IN ({})",
            id_list(ids)
        )
    }

    /// Decodes a row of [`Flavor::presence_sql`] into (id, command, statement).
    pub fn decode_presence(self, row: &[Value]) -> Option<(SessionId, String, Option<String>)> {
        if self == Flavor::MariaDb {
            return self.decode(row).map(|s| (s.id, s.command, s.sql));
        }
        Some((
            SessionId(uint(row.first()?)?),
            text(row.get(1)?).unwrap_or_default(),
            text(row.get(2)?),
        ))
    }
}

fn id_list(ids: &[SessionId]) -> String {
    ids.iter()
        .map(|i| i.0.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// What the server may filter on before sending rows. Literals are quoted by mysql_common for
/// a session without NO_BACKSLASH_ESCAPES, which the lifeline guarantees when it opens.
#[derive(Clone, Copy, Debug, Default)]
pub struct Prefilter<'a> {
    pub ids: Option<&'a [SessionId]>,
    pub user: Option<&'a str>,
    pub database: Option<&'a str>,
}

impl Prefilter<'_> {
    fn where_clause(&self) -> String {
        let mut conds = vec![];
        if let Some(ids) = self.ids {
            conds.push(format!(
                "p.ID IN ({})",
                if ids.is_empty() {
                    "NULL".into()
                } else {
                    id_list(ids)
                }
            ));
        }
        if let Some(user) = self.user {
            conds.push(format!("p.USER = {}", Value::from(user).as_sql(false)));
        }
        if let Some(db) = self.database {
            conds.push(format!("p.DB = {}", Value::from(db).as_sql(false)));
        }
        if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        }
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Double(d) => Some(d.to_string()),
        other => Some(other.as_sql(true).trim_matches('\'').to_owned()),
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::UInt(u) => i64::try_from(*u).ok(),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
        _ => None,
    }
}

fn uint(v: &Value) -> Option<u64> {
    match v {
        Value::UInt(u) => Some(*u),
        Value::Int(i) => u64::try_from(*i).ok(),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// Decodes the shared columns of a listing row; `None` for a row without a usable id.
pub fn decode_session(row: &[Value]) -> Option<Session> {
    if row.len() < 9 {
        return None;
    }
    Some(Session {
        id: SessionId(uint(&row[0])?),
        user: text(&row[1]).unwrap_or_default(),
        host: text(&row[2]).unwrap_or_default(),
        database: text(&row[3]).filter(|d| !d.is_empty()),
        command: text(&row[4]).unwrap_or_default(),
        time: int(&row[5]).unwrap_or(0),
        state: text(&row[6]).unwrap_or_default(),
        sql: text(&row[7]),
        foreground: int(&row[8]).map(|f| f != 0),
        started: None,
        trx_seconds: 0,
    })
}

/// Decodes a row of [`Flavor::trx_sql`] into (id, age in seconds).
pub fn decode_trx(row: &[Value]) -> Option<(SessionId, i64)> {
    Some((
        SessionId(uint(row.first()?)?),
        int(row.get(1)?).unwrap_or(0).max(0),
    ))
}

#[cfg(test)]
mod tests;
