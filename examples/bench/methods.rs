//! The ways to kill the victims: dbkill through its API (by user, database or id list), and its
//! peers (`KILL USER`, client loops, pt-kill), each as it runs between t0 and its return.

use std::path::Path;
use std::process::Stdio;

use anyhow::Result;
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use serde_json::json;
use tokio::process::Command;

use crate::service::{Answer, Dbkill};
use crate::victims::{DATABASE, USER};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    DbkillUser,
    DbkillDatabase,
    DbkillIds,
    KillUser,
    ClientLoop,
    /// Eight client connections in parallel, each killing its share of the ids.
    ClientLoop8,
    PtKill,
    /// The client loop over the unix socket, as baseline.md ran it (not run by default).
    ClientLoopSocket,
}

impl Method {
    /// What issue #4 asks for, in the default interleaving order.
    pub const DEFAULT: [Method; 6] = [
        Method::DbkillUser,
        Method::DbkillDatabase,
        Method::DbkillIds,
        Method::KillUser,
        Method::ClientLoop,
        Method::PtKill,
    ];
    /// What issue #11 asks for in the incident scenes (all but `idle`).
    pub const INCIDENT: [Method; 5] = [
        Method::DbkillUser,
        Method::KillUser,
        Method::ClientLoop,
        Method::ClientLoop8,
        Method::PtKill,
    ];
    pub const ALL: [Method; 8] = [
        Method::DbkillUser,
        Method::DbkillDatabase,
        Method::DbkillIds,
        Method::KillUser,
        Method::ClientLoop,
        Method::ClientLoop8,
        Method::PtKill,
        Method::ClientLoopSocket,
    ];
    /// The peers dbkill is compared with in issue #11's goals.
    pub const PEERS: [Method; 4] = [
        Method::KillUser,
        Method::ClientLoop,
        Method::ClientLoop8,
        Method::PtKill,
    ];

    /// The name used in tables and on the command line (`--methods`).
    pub fn key(self) -> &'static str {
        match self {
            Method::DbkillUser => "dbkill-user",
            Method::DbkillDatabase => "dbkill-database",
            Method::DbkillIds => "dbkill-ids",
            Method::KillUser => "kill-user",
            Method::ClientLoop => "client-loop",
            Method::ClientLoop8 => "client-loop-8",
            Method::PtKill => "pt-kill",
            Method::ClientLoopSocket => "client-loop-socket",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.key() == s)
    }

    pub fn is_dbkill(self) -> bool {
        matches!(
            self,
            Method::DbkillUser | Method::DbkillDatabase | Method::DbkillIds
        )
    }
}

/// dbkill's kill body for `method` on the victims `ids` (empty for the other methods), with a
/// `deadline_ms` where the scene sends one.
pub fn kill_body(db_user: &str, method: Method, ids: &[u64], deadline_ms: Option<u64>) -> Vec<u8> {
    let mut body = match method {
        Method::DbkillUser => json!({"db_user_id": db_user, "user": USER}),
        Method::DbkillDatabase => json!({"db_user_id": db_user, "database": DATABASE}),
        Method::DbkillIds => json!({"db_user_id": db_user,
            "process_ids": ids.iter().map(u64::to_string).collect::<Vec<_>>()}),
        _ => return Vec::new(),
    };
    if let Some(ms) = deadline_ms {
        body["deadline_ms"] = json!(ms);
    }
    serde_json::to_vec(&body).expect("JSON of a json! value")
}

/// How a method ended: dbkill's HTTP answer, or whether the statement or tool succeeded.
pub enum Outcome {
    Http(Result<Answer>),
    Done(Result<()>),
}

/// Where and as whom the methods reach the server.
pub struct Target<'a> {
    pub port: u16,
    /// mariadbd's unix socket (`client-loop-socket`).
    pub socket: &'a Path,
    /// `killer`, the account of every method.
    pub login: (&'a str, &'a str),
}

/// Runs the method itself: what happens between t0 and its return. `request_id` goes to dbkill
/// as `X-Request-Id`.
pub async fn execute(
    method: Method,
    dbkill: &Dbkill,
    killer: &mut Conn,
    target: &Target<'_>,
    body: Vec<u8>,
    request_id: Option<&str>,
) -> Outcome {
    let (port, socket) = (target.port, target.socket);
    let (user, password) = target.login;
    match method {
        Method::DbkillUser | Method::DbkillDatabase | Method::DbkillIds => {
            Outcome::Http(dbkill.kill(body, request_id).await)
        }
        Method::KillUser => Outcome::Done(
            killer
                .query_drop(format!("KILL USER {USER}"))
                .await
                .map_err(anyhow::Error::from),
        ),
        Method::ClientLoop | Method::ClientLoopSocket => {
            let to = if method == Method::ClientLoop {
                format!("--protocol=TCP -h127.0.0.1 -P{port}")
            } else {
                format!("-S {}", socket.display())
            };
            let client = format!("mariadb --no-defaults {to} -u{user} -p{password}");
            let script = format!(
                "{client} -N -e \"SELECT CONCAT('KILL ',id,';') FROM information_schema.processlist \
                 WHERE user='{USER}'\" | {client}"
            );
            Outcome::Done(run_tool(Command::new("sh").args(["-c", &script])).await)
        }
        Method::ClientLoop8 => {
            let client = format!(
                "mariadb --no-defaults --protocol=TCP -h127.0.0.1 -P{port} -u{user} -p{password}"
            );
            // GNU split deals the KILL lines round-robin to 8 clients running in parallel.
            let script = format!(
                "{client} -N -e \"SELECT CONCAT('KILL ',id,';') FROM information_schema.processlist \
                 WHERE user='{USER}'\" | split -n r/8 --filter='{client}'"
            );
            Outcome::Done(
                run_tool(
                    Command::new("sh")
                        .args(["-c", &script])
                        .env("SHELL", "/bin/sh"),
                )
                .await,
            )
        }
        Method::PtKill => Outcome::Done(
            run_tool(Command::new("pt-kill").args([
                "--no-version-check",
                "--match-user",
                &format!("^{USER}$"),
                "--victims",
                "all",
                "--kill",
                "--run-time",
                "1",
                "--interval",
                "1",
                &format!("h=127.0.0.1,P={port},u={user},p={password}"),
            ]))
            .await,
        ),
    }
}

/// Runs a tool to completion; an error if it fails.
async fn run_tool(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await?;
    if !out.status.success() {
        anyhow::bail!(
            "exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
