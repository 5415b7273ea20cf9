//! Request latency through the SQLite-store service and through replica r1 on the PostgreSQL
//! store, for the token check, ListProcesses and a one-session kill. The two are called in
//! turn, the first of each pair alternating, so that drift in the machine's load reaches both
//! alike; a few untimed calls warm each up first (lifeline, caches, connection).

use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};

use crate::api::{Api, Timed};
use crate::victims;

const WARM_UP: usize = 10;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Token,
    List,
    Kill,
}

impl Op {
    pub const ALL: [Op; 3] = [Op::Token, Op::List, Op::Kill];

    pub fn describe(self, victims: usize) -> String {
        match self {
            Op::Token => "token check (GET /v3/projects)".to_owned(),
            Op::List => format!("ListProcesses ({victims} idle sessions of one user)"),
            Op::Kill => "KillSession of one idle session".to_owned(),
        }
    }
}

/// The timings of one operation: `[SQLite store, PostgreSQL store]`, in ms.
pub struct Latency {
    pub op: Op,
    pub ms: [Vec<f64>; 2],
}

/// Runs `calls` token checks and ListProcesses and `kills` kills on each of `apis`
/// (`[SQLite, PostgreSQL]`), in that order of operations.
pub async fn measure(
    apis: [&Api; 2],
    pg_port: u16,
    calls: usize,
    kills: usize,
) -> Result<Vec<Latency>> {
    let mut out = Vec::new();
    for op in Op::ALL {
        let n = if op == Op::Kill { kills } else { calls };
        for (i, api) in apis.iter().enumerate() {
            for _ in 0..WARM_UP {
                one(op, api, pg_port)
                    .await
                    .with_context(|| format!("warm-up of store {i}"))?;
            }
        }
        let mut ms = [Vec::with_capacity(n), Vec::with_capacity(n)];
        for call in 0..n {
            let order = if call % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                let t = one(op, apis[i], pg_port).await?;
                ms[i].push(t.as_secs_f64() * 1e3);
            }
        }
        out.push(Latency { op, ms });
    }
    Ok(out)
}

/// One timed call; a kill first opens its victim (not timed).
async fn one(op: Op, api: &Api, pg_port: u16) -> Result<Duration> {
    let t: Timed = match op {
        Op::Token => api.token_check().await?,
        Op::List => api.list(victims::LISTED.0).await?,
        Op::Kill => {
            let (mut conn, pid) = victim(pg_port).await?;
            let t = api.kill(pid).await?;
            // It is terminated; closing just reaps our side.
            let _ = conn.ping().await;
            t
        }
    };
    Ok(t.took)
}

/// A fresh idle connection of the kill victims' role, and its backend pid.
async fn victim(pg_port: u16) -> Result<(PgConnection, i32)> {
    let (user, password) = victims::KILLED;
    let mut conn = PgConnection::connect_with(&victims::tcp_options(
        pg_port,
        user,
        password,
        victims::DATABASE,
    ))
    .await
    .context("connect a kill victim")?;
    let pid: i32 = sqlx::query("SELECT pg_backend_pid()")
        .fetch_one(&mut conn)
        .await?
        .get(0);
    Ok((conn, pid))
}

/// The `q`-quantile (0..=1) of `ms` by nearest rank; NaN when empty.
pub fn quantile(ms: &[f64], q: f64) -> f64 {
    if ms.is_empty() {
        return f64::NAN;
    }
    let mut v = ms.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}
