//! The web console on a PostgreSQL instance: in Debian's headless Chromium
//! (`tests/browser/pg.mjs`) a DBA sees a role's backends with their states as commands, hides the
//! idle ones, selects two idle backends and kills them through the dry-run confirmation — and on
//! the server exactly those two ended, the others (idle, in `pg_sleep`, idle in a transaction)
//! still run, and the history names `console:admin`.

use std::path::PathBuf;

use crate::helpers::app::spawn_app;
use crate::helpers::browser::{
    admin_console_env, assert_png, console_kills, project_name, repo, run_scenario,
};
use crate::helpers::pg::{
    SEES_AND_SIGNALS, left_server, new_database, new_pg_victim, pg_ctx, pg_idle, pg_sleeping,
    usable,
};
use crate::support::postgres::shared;

#[tokio::test]
async fn in_a_browser_a_dba_kills_exactly_the_two_backends_selected() {
    let app = spawn_app().await;
    let pg = shared();
    let ctx = pg_ctx(&app, pg, SEES_AND_SIGNALS, &[]).await;
    let project_name = project_name(&app, &ctx.project).await;
    let user = new_pg_victim(pg, "console_pg");
    let database = new_database(pg, "console_shop");
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(pg_idle(pg, &user, &database).await);
    }
    let (mut in_trx, in_trx_pid) = pg_idle(pg, &user, &database).await;
    sqlx::query("BEGIN").execute(&mut in_trx).await.unwrap();
    sqlx::query("SELECT 1").execute(&mut in_trx).await.unwrap();
    let (sleeper, sleeper_pid) = pg_sleeping(pg, &user, &database).await;
    // Two idle backends that are not neighbours by pid.
    let mut pids: Vec<i32> = idle.iter().map(|c| c.1).collect();
    pids.sort_unstable();
    let chosen = [pids[0], pids[2]];
    let spared = [pids[1], pids[3]];

    let screenshot: PathBuf = repo().join("target/console-pg.png");
    let _ = std::fs::remove_file(&screenshot);
    let join = |ids: &[i32]| ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    let (victims, spared_env) = (join(&chosen), join(&spared));
    let (active, in_trx_env) = (sleeper_pid.to_string(), in_trx_pid.to_string());
    let mut env = admin_console_env(&app, &project_name);
    env.extend([
        ("DBKILL_CONSOLE_INSTANCE", "pg"),
        ("DBKILL_CONSOLE_FILTER_USER", &user),
        ("DBKILL_CONSOLE_VICTIMS", &victims),
        ("DBKILL_CONSOLE_IDLE", &spared_env),
        ("DBKILL_CONSOLE_ACTIVE", &active),
        ("DBKILL_CONSOLE_IN_TRX", &in_trx_env),
        ("DBKILL_CONSOLE_SCREENSHOT", screenshot.to_str().unwrap()),
    ]);
    run_scenario("pg.mjs", &env).await;

    // On the server: exactly the two chosen backends ended; the rest still work as they were.
    for (conn, pid) in &mut idle {
        if chosen.contains(pid) {
            assert!(
                left_server(pg, *pid).await,
                "backend {pid} was selected but lives"
            );
            assert!(!usable(conn).await, "the client of {pid} still works");
        } else {
            assert!(pg.alive(*pid), "backend {pid} was not selected but ended");
            assert!(
                usable(conn).await,
                "backend {pid} was not selected but broke"
            );
        }
    }
    let mut rest = vec![spared[0], spared[1], in_trx_pid, sleeper_pid];
    rest.sort_unstable();
    assert_eq!(pg.pids(&user), rest);
    assert_eq!(
        pg.sql(&format!(
            "SELECT state, wait_event FROM pg_stat_activity WHERE pid IN ({in_trx_pid}, {sleeper_pid}) ORDER BY pid = {sleeper_pid}"
        )),
        "idle in transaction|ClientRead\nactive|PgSleep"
    );
    assert!(usable(&mut in_trx).await);

    let history = ctx.history(&app, "page_size=100").await;
    assert_eq!(history["total_count"], 2, "{history}");
    assert_eq!(
        console_kills(&history, &user),
        chosen.map(i64::from),
        "{history}"
    );
    assert_png(&screenshot);

    pg.sql(&format!("SELECT pg_terminate_backend({sleeper_pid})"));
    drop(sleeper);
}
