//! The `dbkill` client on a PostgreSQL instance, run as the real binary against `spawn_app()` and
//! the shared throwaway cluster: registering the instance and its db user (a wrong password
//! refused), listing backends with their states as commands and the local filters, a dry run, a
//! query kill that keeps the connection, kills by user and database that end exactly those
//! backends on the server, the history, and exit code 3 for a superuser's backend the db user
//! may not signal.

use dbkill::cli::{EXIT_FAILED, EXIT_KILL_FAILED};
use serde_json::Value;

use crate::helpers::app::spawn_app;
use crate::helpers::cli::{Cli, Out, assert_sessions_header, printed_instance_id, rows_of};
use crate::helpers::pg::{
    ROLE_PASSWORD, SEES_AND_SIGNALS, left_server, new_database, new_pg_victim, pg_ctx, pg_idle,
    pg_sleeping, usable,
};
use crate::support::postgres::{Postgres, shared, unique_name};

/// `(id, command)` of every row a `sessions list --json` printed, by id.
fn json_rows(out: &Out) -> Vec<(i32, String)> {
    let rows: Value = serde_json::from_str(out.ok()).expect("--json prints JSON");
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().parse().unwrap(),
                r["command"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn sorted(mut ids: Vec<i32>) -> Vec<i32> {
    ids.sort_unstable();
    ids
}

/// The ids of `user`'s rows in a CLI table, ascending.
fn table_ids(table: &str, user: &str) -> Vec<i32> {
    sorted(
        rows_of(table, user)
            .into_iter()
            .map(|id| id as i32)
            .collect(),
    )
}

#[tokio::test]
async fn a_postgresql_instance_and_its_db_user_are_registered_and_its_backends_listed() {
    let app = spawn_app().await;
    let pg: &Postgres = shared();
    let project = app.create_project(&unique_name("cli_pg")).await;
    let cli = Cli::logged_in(&app, &project).await;
    let name = unique_name("pg");
    let port = pg.port().to_string();

    let out = cli
        .add_instance(&name, "PostgreSQL", pg.host(), &port, &["postgres"])
        .await;
    let instance_id = printed_instance_id(&out, "in03");
    let (_, line) = cli.instance_line(&instance_id).await;
    for part in [name.as_str(), "postgresql", pg.host(), &port, "postgres"] {
        assert!(line.contains(part), "{line}");
    }

    let killer = unique_name("cli_pgkiller");
    pg.create_role(&killer, ROLE_PASSWORD, SEES_AND_SIGNALS);
    let add = |password: &'static str| cli.add_db_user(&name, &killer, password, &[]);
    // The server logs in to check the password (28P01 → DAS.210002) and keeps nothing.
    add("not-the-password")
        .await
        .fails(EXIT_FAILED, "DAS.210002");
    let users = cli.run(&["db-users", "list", "--instance", &name]).await;
    assert!(!users.ok().contains(&killer), "{}", users.stdout);
    let out = add(ROLE_PASSWORD).await;
    assert!(out.ok().contains(&killer), "{}", out.stdout);
    assert!(!out.stdout.contains(ROLE_PASSWORD) && !out.stderr.contains(ROLE_PASSWORD));

    let victim = new_pg_victim(pg, "cli_pgv");
    let shop = new_database(pg, "cli_shop");
    let crm = new_database(pg, "cli_crm");
    let (_idle_shop, idle_shop) = pg_idle(pg, &victim, &shop).await;
    let (_idle_crm, idle_crm) = pg_idle(pg, &victim, &crm).await;
    let (mut in_trx, in_trx_pid) = pg_idle(pg, &victim, &shop).await;
    sqlx::query("BEGIN").execute(&mut in_trx).await.unwrap();
    sqlx::query("SELECT 1").execute(&mut in_trx).await.unwrap();
    let (sleeper, sleeper_pid) = pg_sleeping(pg, &victim, &crm).await;
    let all = sorted(vec![idle_shop, idle_crm, in_trx_pid, sleeper_pid]);
    let list = |extra: &[&str]| cli.list_sessions(&name, &victim, extra);

    // The table: PostgreSQL's backend state is the command, its wait event the state.
    let out = list(&[]).await;
    let table = out.ok();
    assert_sessions_header(table);
    assert_eq!(table_ids(table, &victim), all, "{table}");
    assert!(table.trim_end().ends_with("4 sessions"), "{table}");
    let row = |pid: i32| {
        table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(&pid.to_string()))
            .unwrap_or_else(|| panic!("no row {pid}:\n{table}"))
    };
    let sleeping = row(sleeper_pid);
    for part in [
        crm.as_str(),
        "active",
        "Timeout:PgSleep",
        "SELECT pg_sleep(600)",
        "127.0.0.1:",
    ] {
        assert!(sleeping.contains(part), "{part}: {sleeping}");
    }
    assert!(row(in_trx_pid).contains("idle in transaction"), "{table}");
    assert!(row(idle_shop).contains(" idle "), "{table}");

    let json = json_rows(&list(&["--json"]).await);
    let commands: Vec<(i32, &str)> = json.iter().map(|(id, c)| (*id, c.as_str())).collect();
    let mut want = vec![
        (idle_shop, "idle"),
        (idle_crm, "idle"),
        (in_trx_pid, "idle in transaction"),
        (sleeper_pid, "active"),
    ];
    want.sort_unstable();
    assert_eq!(commands, want);

    // The server-side database filter, then the local ones on PostgreSQL's states.
    let ids = |out: Out| json_rows(&out).into_iter().map(|r| r.0).collect::<Vec<_>>();
    assert_eq!(
        ids(list(&["--database", &crm, "--json"]).await),
        sorted(vec![idle_crm, sleeper_pid])
    );
    assert_eq!(
        ids(list(&["--command", "IDLE", "--json"]).await),
        sorted(vec![idle_shop, idle_crm])
    );
    assert_eq!(
        ids(list(&["--command", "idle in transaction", "--json"]).await),
        vec![in_trx_pid]
    );
    // Active: not idle; a backend idle in a transaction holds it open, so it counts.
    assert_eq!(
        ids(list(&["--active", "--json"]).await),
        sorted(vec![in_trx_pid, sleeper_pid])
    );

    // Listing touched nothing.
    for pid in &all {
        assert!(pg.alive(*pid), "backend {pid} ended");
    }
    pg.sql(&format!("SELECT pg_terminate_backend({sleeper_pid})"));
    drop(sleeper);
}

#[tokio::test]
async fn kills_from_the_cli_end_exactly_the_chosen_backends() {
    let app = spawn_app().await;
    let pg = shared();
    let ctx = pg_ctx(&app, pg, SEES_AND_SIGNALS, &[]).await;
    let cli = Cli::logged_in(&app, &ctx.project).await;
    let kill = |extra: &[&str]| {
        let mut args = vec!["sessions", "kill", "--instance", "pg"];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| {
        let cli = &cli;
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            cli.input(&refs, "").await
        }
    };

    let victim = new_pg_victim(pg, "cli_pgk");
    let other = new_pg_victim(pg, "cli_pgo");
    let shop = new_database(pg, "cli_kshop");
    let crm = new_database(pg, "cli_kcrm");
    let mut shop_conns = vec![];
    for _ in 0..2 {
        shop_conns.push(pg_idle(pg, &victim, &shop).await);
    }
    let (mut crm_conn, crm_pid) = pg_idle(pg, &victim, &crm).await;
    let (mut bystander, bystander_pid) = pg_idle(pg, &other, &shop).await;
    let (sleeper, sleeper_pid) = pg_sleeping(pg, &victim, &crm).await;
    let shop_pids = sorted(shop_conns.iter().map(|c| c.1).collect());
    let victim_pids = sorted([shop_pids.clone(), vec![crm_pid, sleeper_pid]].concat());

    // A dry run shows the plan and ends nothing.
    let out = run(kill(&["--user", &victim, "--dry-run"])).await;
    let stdout = out.ok();
    assert!(
        stdout.contains("4 sessions will be killed (connection):"),
        "{stdout}"
    );
    assert_eq!(table_ids(stdout, &victim), victim_pids, "{stdout}");
    assert!(stdout.contains("Dry run: nothing was killed."), "{stdout}");
    assert_eq!(pg.pids(&victim), victim_pids);

    // --query cancels pg_sleep (pg_cancel_backend): the statement fails, the backend stays.
    let id = sleeper_pid.to_string();
    let out = run(kill(&["--id", &id, "--query", "--yes"])).await;
    assert!(
        out.ok().contains("1 session will be killed (query):"),
        "{}",
        out.stdout
    );
    let (mut sleeper_conn, result) =
        tokio::time::timeout(std::time::Duration::from_secs(10), sleeper)
            .await
            .expect("pg_sleep was cancelled")
            .unwrap();
    let err = result.expect_err("the cancelled statement fails");
    assert_eq!(
        err.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("57014"),
        "{err}"
    );
    assert!(pg.alive(sleeper_pid) && usable(&mut sleeper_conn).await);

    // By user AND database: the victim's two backends in shop, not its crm ones, not the
    // bystander in shop; an unknown pid is reported, not an error.
    let out = run(kill(&["--user", &victim, "--database", &shop, "--yes"])).await;
    let stdout = out.ok();
    assert!(stdout.contains("2 sessions will be killed"), "{stdout}");
    assert!(
        stdout.contains("Killed 2 (2 gone), skipped 0, not found 0, failed 0."),
        "{stdout}"
    );
    for (conn, pid) in &mut shop_conns {
        assert!(left_server(pg, *pid).await, "backend {pid} lives");
        assert!(!usable(conn).await, "the client of {pid} still works");
    }
    assert!(pg.alive(bystander_pid) && usable(&mut bystander).await);
    assert_eq!(pg.pids(&victim), sorted(vec![crm_pid, sleeper_pid]));

    // By ids, with one that names no backend.
    let (crm_id, sleeper_id) = (crm_pid.to_string(), sleeper_pid.to_string());
    let out = run(kill(&[
        "--id",
        &crm_id,
        "--id",
        &sleeper_id,
        "--id",
        "2147483000",
        "--yes",
    ]))
    .await;
    let stdout = out.ok();
    assert!(
        stdout.contains("No session with id: 2147483000"),
        "{stdout}"
    );
    assert!(stdout.contains("Killed 2 (2 gone)"), "{stdout}");
    assert!(pg.pids(&victim).is_empty(), "{:?}", pg.pids(&victim));
    assert!(!usable(&mut crm_conn).await && !usable(&mut sleeper_conn).await);
    assert_eq!(pg.pids(&other), vec![bystander_pid]);

    let out = run(kill(&["--user", &victim])).await;
    assert!(out.ok().contains("No session to kill."), "{}", out.stdout);

    // The history names the five kills, newest first, by the CLI: the sleeper's statement,
    // then the connections.
    let out = cli.run(&["history", "--instance", "pg"]).await;
    let stdout = out.ok();
    let shown: Vec<i32> = rows_of(stdout, &victim)
        .into_iter()
        .map(|id| id as i32)
        .collect();
    assert_eq!(shown.last(), Some(&sleeper_pid), "{stdout}");
    assert_eq!(
        sorted(shown),
        sorted([shop_pids.clone(), vec![crm_pid, sleeper_pid, sleeper_pid]].concat()),
        "{stdout}"
    );
    assert_eq!(stdout.matches("cli:admin").count(), 5, "{stdout}");
    assert!(stdout.contains("5 of 5 killed sessions"), "{stdout}");
}

#[tokio::test]
async fn a_superusers_backend_the_db_user_may_not_signal_gives_exit_code_3() {
    let app = spawn_app().await;
    let pg = shared();
    let ctx = pg_ctx(&app, pg, SEES_AND_SIGNALS, &[]).await;
    let cli = Cli::logged_in(&app, &ctx.project).await;
    let admin = unique_name("cli_pgsuper");
    pg.create_role(&admin, ROLE_PASSWORD, "SUPERUSER");
    let (mut conn, pid) = pg_idle(pg, &admin, "postgres").await;

    let out = cli
        .run(&[
            "sessions",
            "kill",
            "--instance",
            "pg",
            "--user",
            &admin,
            "--yes",
        ])
        .await;
    out.exited(EXIT_KILL_FAILED);
    assert!(out.stdout.contains("DAS.210003"), "{}", out.stdout);
    assert!(out.stdout.contains("failed 1."), "{}", out.stdout);
    assert!(pg.alive(pid) && usable(&mut conn).await);
}
