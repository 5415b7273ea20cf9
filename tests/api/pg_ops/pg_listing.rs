//! `pg/query-process-list` on a PostgreSQL instance (`in03`) of a cluster of its own, listed by
//! a superuser default db user: backends of two roles in two databases, idle, active, idle in
//! a transaction (open and aborted), over TCP and the socket, and a walsender. `show_all=false`
//! hides `idle` and nothing else, `hide_sys` hides the background processes and the (active)
//! walsender unless false, the backend states are commands and the wait events states, and the
//! statistics count exactly the backends opened; every expectation is read from the server.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::app::spawn_app;
use crate::helpers::errors::assert_das_error;
use crate::helpers::pg::{
    PgVictim, Via, backend_type, background_pids, end_all, new_database, new_role, pg_default_ctx,
    sleep_sql,
};
use crate::helpers::pg_ops::{PgOps, exec_time_buckets, row, row_ids, time_of};
use crate::support::postgres::{Postgres, PostgresOptions, SUPERUSER, SUPERUSER_PASSWORD};

fn trx_of(row: &Value) -> u64 {
    row["trx_duration"].as_str().unwrap().parse().unwrap()
}

/// `pg_stat_activity.query` of `pid`: the statement running, or the last one.
fn query_of(pg: &Postgres, pid: i32) -> String {
    pg.sql(&format!(
        "SELECT query FROM pg_stat_activity WHERE pid = {pid}"
    ))
}

fn client_port(pg: &Postgres, pid: i32) -> String {
    pg.sql(&format!(
        "SELECT client_port FROM pg_stat_activity WHERE pid = {pid}"
    ))
}

/// The ids of an answer's rows as a set.
fn id_set(list: &Value) -> BTreeSet<u64> {
    row_ids(list).into_iter().collect()
}

/// `ids` ascending: rows are ordered by id unless asked otherwise (pids need not grow).
fn by_id<const N: usize>(mut ids: [u64; N]) -> [u64; N] {
    ids.sort_unstable();
    ids
}

fn as_ids(pids: &[i32]) -> BTreeSet<u64> {
    pids.iter().map(|&p| u64::try_from(p).unwrap()).collect()
}

#[tokio::test]
async fn the_list_of_a_postgresql_instance_shows_its_client_backends_by_state_and_counts_them() {
    let pg = Postgres::start(PostgresOptions::default());
    let app = spawn_app().await;
    let ctx = pg_default_ctx(&app, &pg, "SUPERUSER", &[]).await;
    let ops = PgOps::new(&app, &ctx.project, &ctx.instance);
    let (ua, ub) = (new_role(&pg, "pa", ""), new_role(&pg, "pb", ""));
    let (d1, d2) = (new_database(&pg, "d1"), new_database(&pg, "d2"));
    let a1 = PgVictim::idle(&pg, &ua, &d1, Via::Tcp, "a1").await;
    let mut a2 = PgVictim::in_transaction(&pg, &ua, &d2, "a2").await;
    let a3 = PgVictim::sleeping(&pg, &ua, &d1, Via::Tcp, "marka3").await;
    let b1 = PgVictim::idle(&pg, &ub, &d1, Via::Socket, "b1").await;
    let b2 = PgVictim::sleeping(&pg, &ub, &d1, Via::Tcp, "markb2").await;
    let b3 = PgVictim::in_aborted_transaction(&pg, &ub, &d2, Via::Socket, "b3").await;
    let ids = |l: &Value| row_ids(l);
    let host = |pid| format!("127.0.0.1:{}", client_port(&pg, pid));

    // The default: `idle` is left out of the rows (counted in the statistics); active and
    // idle in transaction are shown.
    let l = ops.list(&format!("user={ua}")).await;
    assert_eq!(ids(&l), by_id([a2.id(), a3.id()]), "{l}");
    assert_eq!(l["total"], 2);
    let r3 = row(&l, a3.id());
    let t3 = time_of(r3);
    assert_eq!(
        r3,
        &json!({"id": a3.id().to_string(), "user": ua, "host": host(a3.pid), "db": d1,
                "command": "active", "time": t3.to_string(), "state": "Timeout:PgSleep",
                "info": sleep_sql("marka3"), "trx_duration": r3["trx_duration"]})
    );
    let r2 = row(&l, a2.id());
    let t2 = time_of(r2);
    assert_eq!(
        r2,
        &json!({"id": a2.id().to_string(), "user": ua, "host": host(a2.pid), "db": d2,
                "command": "idle in transaction", "time": t2.to_string(),
                "state": "Client:ClientRead", "info": query_of(&pg, a2.pid),
                "trx_duration": r2["trx_duration"]})
    );
    for r in [r2, r3] {
        assert!(
            trx_of(r) >= time_of(r),
            "a transaction is as old as its statement: {r}"
        );
    }
    assert_eq!(
        (l["idle_session"].clone(), l["active_session"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(l["user_info_list"], json!([ua]));
    let mut dbs = vec![d1.clone(), d2.clone()];
    dbs.sort();
    assert_eq!(l["db_info_list"], json!(dbs));
    assert_eq!(l["host_info_list"], json!(["127.0.0.1"]));
    assert_eq!(
        l["state_info_list"],
        json!(["Client:ClientRead", "Timeout:PgSleep"])
    );
    assert_eq!(
        l["command_info_list"],
        json!(["active", "idle", "idle in transaction"])
    );
    assert_eq!(
        l["summary"],
        json!([{"key": "active", "value": 1}, {"key": "idle", "value": 1},
               {"key": "idle in transaction", "value": 1}])
    );
    assert_eq!(
        l["user_stats"],
        json!([{"key": ua, "value": ua, "active_count": 2, "total_count": 3}])
    );
    assert_eq!(
        l["db_stats"],
        json!([{"key": d1, "value": d1, "active_count": 1, "total_count": 2},
               {"key": d2, "value": d2, "active_count": 1, "total_count": 1}])
    );
    assert_eq!(
        l["host_stats"],
        json!([{"key": "127.0.0.1", "value": "127.0.0.1", "active_count": 2, "total_count": 3}])
    );
    assert_eq!(l["session_exec_time"], exec_time_buckets(&[t2, t3]));
    assert_eq!(l["show_version_support_message"], false);
    assert_eq!(l["show_warn_message"], false);
    // show_all changes the rows, not the statistics; an idle backend runs no statement.
    let all = ops.list(&format!("user={ua}&show_all=true")).await;
    assert_eq!(ids(&all), by_id([a1.id(), a2.id(), a3.id()]));
    let r1 = row(&all, a1.id());
    assert_eq!(
        (
            r1["command"].clone(),
            r1["info"].clone(),
            r1["trx_duration"].clone()
        ),
        (json!("idle"), json!(""), json!("0"))
    );
    for same in [
        "idle_session",
        "active_session",
        "user_stats",
        "db_stats",
        "host_stats",
        "summary",
        "command_info_list",
    ] {
        assert_eq!(all[same], l[same], "{same}");
    }

    // The other role over the socket: `local`, and an aborted transaction is not idle.
    let l = ops.list(&format!("user={ub}")).await;
    assert_eq!(ids(&l), by_id([b2.id(), b3.id()]), "{l}");
    assert_eq!(row(&l, b3.id())["host"], "local");
    assert_eq!(row(&l, b3.id())["command"], "idle in transaction (aborted)");
    assert_eq!(
        (l["idle_session"].clone(), l["active_session"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(l["host_info_list"], json!(["127.0.0.1", "local"]));
    assert_eq!(
        l["host_stats"],
        json!([{"key": "local", "value": "local", "active_count": 1, "total_count": 2},
               {"key": "127.0.0.1", "value": "127.0.0.1", "active_count": 1, "total_count": 1}])
    );

    // Filters on PostgreSQL's values.
    let mine = format!("db={d1}&show_all=true");
    assert_eq!(
        ids(&ops.list(&mine).await),
        by_id([a1.id(), a3.id(), b1.id(), b2.id()])
    );
    assert_eq!(
        ids(&ops.list(&format!("{mine}&command=IDLE")).await),
        by_id([a1.id(), b1.id()])
    );
    assert_eq!(
        ids(&ops
            .list(&format!("db={d2}&command=idle%20in%20transaction"))
            .await),
        [a2.id()],
        "the command is the whole state"
    );
    assert_eq!(
        ids(&ops.list(&format!("{mine}&state=Timeout:PgSleep")).await),
        by_id([a3.id(), b2.id()])
    );
    assert_eq!(ids(&ops.list("keywords=MARKB2").await), [b2.id()]);
    assert_eq!(
        ids(&ops.list(&format!("db={d2}&show_all=true&host=local")).await),
        [b3.id()]
    );
    assert_eq!(
        ids(&ops.list(&format!("host={}", host(a3.pid))).await),
        [a3.id()],
        "the whole host"
    );
    assert_eq!(
        ids(&ops
            .list(&format!(
                "db={d1}&show_all=true&order_by=command&order=desc"
            ))
            .await),
        [by_id([a1.id(), b1.id()]), by_id([a3.id(), b2.id()])].concat(),
        "idle after active, ties by id"
    );

    // time: seconds in the state. a1 is untouched, so its time only grows; a fresh backend
    // stays below 2 s for the next request. (a2's transaction ages meanwhile.)
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let l = ops.list(&format!("user={ua}&show_all=true")).await;
        if time_of(row(&l, a1.id())) >= 2 && trx_of(row(&l, a2.id())) >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "a1 or a2 never waited 2 s: {l}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let fresh = PgVictim::idle(&pg, &ua, &d1, Via::Tcp, "fresh").await;
    let slow = id_set(&ops.list(&format!("user={ua}&show_all=true&time=2")).await);
    assert!(
        slow.contains(&a1.id()) && !slow.contains(&fresh.id()),
        "{slow:?}"
    );
    // A new statement in a2's transaction: its time starts again, its transaction's does not.
    a2.run(&pg, "SELECT 'a2 again'", "idle in transaction")
        .await;
    let l = ops
        .list(&format!("user={ua}&command=idle%20in%20transaction"))
        .await;
    let r2 = row(&l, a2.id());
    assert!(time_of(r2) < 2 && trx_of(r2) >= 2, "{r2}");
    assert_eq!(r2["info"], "SELECT 'a2 again'");

    // hide_sys: the background processes (no client) and a walsender (`active`, as a busy
    // client) are left out by default and listed when it is false.
    let walsender = pg.receive_wal(SUPERUSER, SUPERUSER_PASSWORD);
    let wal_pid = walsender.walsender_pid();
    let background = background_pids(&pg);
    assert!(background.contains(&wal_pid));
    let types: BTreeSet<String> = background
        .iter()
        .filter_map(|&p| backend_type(&pg, p))
        .collect();
    for t in ["autovacuum launcher", "checkpointer", "walsender"] {
        assert!(types.contains(t), "{types:?}");
    }
    let hidden = ops.list("show_all=true&per_page=100").await;
    assert!(
        id_set(&hidden).is_disjoint(&as_ids(&background)),
        "{hidden}"
    );
    // (A psql of the harness may be listed as it leaves.)
    for listed in row_ids(&hidden) {
        let pid = i32::try_from(listed).unwrap();
        let kind = backend_type(&pg, pid);
        assert!(
            matches!(kind.as_deref(), None | Some("client backend")),
            "{pid}: {kind:?}"
        );
    }
    let shown = ops.list("show_all=true&hide_sys=false&per_page=100").await;
    // A background process of a moment (an autovacuum worker) may come or go meanwhile.
    let steady: Vec<i32> = background
        .iter()
        .copied()
        .filter(|&p| backend_type(&pg, p).is_some_and(|t| !t.contains("worker")))
        .collect();
    assert!(
        id_set(&shown).is_superset(&as_ids(&steady)),
        "{steady:?}: {shown}"
    );
    let wal_row = row(&shown, u64::try_from(wal_pid).unwrap());
    assert_eq!(
        (wal_row["user"].clone(), wal_row["command"].clone()),
        (json!(SUPERUSER), json!("active")),
        "a walsender is active, but no client"
    );
    let mine: BTreeSet<u64> = [&a1, &a2, &a3, &b1, &b2, &b3, &fresh]
        .iter()
        .map(|b| b.id())
        .collect();
    for (list, name) in [(&hidden, "hidden"), (&shown, "shown")] {
        assert!(id_set(list).is_superset(&mine), "{name}: {list}");
    }

    // The wrong engine for an in03 instance, before anything happens.
    let body = json!({"engine_type": "mysql", "processes": [{"id": a3.id(), "user": ua}]});
    assert_das_error(
        &ops.kill_as(&app.admin_token, body).await,
        400,
        "DAS.200107",
    );
    assert!(a3.alive(&pg), "killed by a refused request");

    // Even a superuser default db user never ends a walsender: it is no client.
    let r = ops
        .kill(
            "PostgreSQL",
            &[(u64::try_from(wal_pid).unwrap(), SUPERUSER), (a3.id(), &ua)],
        )
        .await;
    assert_eq!(r.body, json!({"count": 1}), "{}", r.text);
    assert!(!pg.alive(a3.pid), "a3 survived");
    assert_eq!(backend_type(&pg, wal_pid).as_deref(), Some("walsender"));
    drop(walsender);
    end_all(&pg, [&a1, &a2, &a3, &b1, &b2, &b3, &fresh]);
}
