//! The `dbkill` client subcommands, run as the real binary against `spawn_app()` and the shared
//! throwaway mariadbd: login and its file, instances and db users, listing, the kill with its
//! question, dry run, query kill, a chunked kill of more than a hundred sessions, history, and
//! errors (Chinese, missing login, unreachable server) with their exit codes. `helpers::cli` runs
//! the binary.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use dbkill::cli::{EXIT_FAILED, EXIT_KILL_FAILED, EXIT_LOGIN, EXIT_USAGE};
use serde_json::Value;

use crate::helpers::app::{ADMIN_PASSWORD, spawn_app};
use crate::helpers::cli::{Cli, assert_sessions_header, printed_instance_id, rows_of};
use crate::helpers::fixtures::{KillSetup, idle, new_database, new_victim, sleeping, usable};
use crate::support::mariadb::{shared, unique_name};

fn json_ids(json: &str) -> Vec<u64> {
    let rows: Value = serde_json::from_str(json).expect("--json prints JSON");
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn login_keeps_a_private_token_and_no_password() {
    let app = spawn_app().await;
    let name = unique_name("cli_login");
    let project = app.create_project(&name).await;

    // By project name (scope.project.name).
    let cli = Cli::logged_in(&app, &name).await;
    let path = cli.login_file();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "login.json mode {mode:o}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(ADMIN_PASSWORD), "{text}");
    let stored: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(stored["server"], app.base.as_str());
    assert_eq!(stored["user"]["name"], "admin");
    assert_eq!(stored["project"]["id"], project.as_str());
    assert_eq!(stored["project"]["name"], name.as_str());
    let token = stored["token"].as_str().unwrap();
    assert!(token.len() >= 20, "{text}");

    // By project id (scope.project.id); nothing it prints shows the token or the password.
    let out = cli.login(&app, Some(&project), ADMIN_PASSWORD).await;
    let stdout = out.ok();
    assert!(stdout.contains(&name), "{stdout}");
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let token = stored["token"].as_str().unwrap();
    assert!(!stdout.contains(token) && !out.stderr.contains(token));
    assert!(!stdout.contains(ADMIN_PASSWORD) && !out.stderr.contains(ADMIN_PASSWORD));
    // The stored token works.
    cli.run(&["instances", "list"]).await.ok();

    // A wrong password is refused with the server's code, and the stored login stays.
    let out = cli.login(&app, None, "wrong-password").await;
    out.fails(EXIT_LOGIN, "APIGW.0301");
    assert_eq!(
        serde_json::from_str::<Value>(&std::fs::read_to_string(&path).unwrap()).unwrap()["token"],
        token
    );

    // Without --password-stdin and without a terminal there is no password to read.
    let out = cli
        .run(&["login", "--server", &app.base, "--user", "admin"])
        .await;
    out.fails(EXIT_USAGE, "--password-stdin");
}

#[tokio::test]
async fn missing_expired_or_unreachable_logins_fail_with_a_message() {
    let cli = Cli::new();
    let out = cli.run(&["instances", "list"]).await;
    out.fails(EXIT_LOGIN, "Not logged in");
    assert!(out.stdout.is_empty());

    let login = |server: &str, expires: &str| {
        serde_json::json!({"server": server, "user": {"id": "u", "name": "admin"},
            "project": {"id": "0123456789abcdef0123456789abcdef", "name": "p"},
            "scoped": true, "token": "t", "expires_at": expires})
        .to_string()
    };
    std::fs::write(
        cli.login_file(),
        login("http://127.0.0.1:9", "2001-01-01T00:00:00Z"),
    )
    .unwrap();
    let out = cli.run(&["instances", "list"]).await;
    out.fails(EXIT_LOGIN, "expired");

    // Port 9 (discard) has no listener here: the connection is refused.
    std::fs::write(
        cli.login_file(),
        login("http://127.0.0.1:9", "2999-01-01T00:00:00Z"),
    )
    .unwrap();
    let out = cli.run(&["instances", "list"]).await;
    out.fails(
        EXIT_FAILED,
        "Cannot reach the dbkill server at http://127.0.0.1:9",
    );
    let out = cli.run(&["instances", "list", "--lang", "zh-cn"]).await;
    out.fails(EXIT_FAILED, "无法连接");
}

#[tokio::test]
async fn instances_and_db_users_are_added_listed_and_removed() {
    let app = spawn_app().await;
    let db = shared();
    let project = app.create_project(&unique_name("cli_inst")).await;
    let cli = Cli::logged_in(&app, &project).await;
    let name = unique_name("inst");
    let port = db.port().to_string();

    let out = cli
        .add_instance(&name, "mariadb", db.host(), &port, &["root", "repl"])
        .await;
    let instance_id = printed_instance_id(&out, "in01");
    let (list, line) = cli.instance_line(&instance_id).await;
    for part in [
        name.as_str(),
        "mariadb",
        db.host(),
        port.as_str(),
        "root,repl",
    ] {
        assert!(line.contains(part), "{line}");
    }
    assert!(list.stdout.ends_with("\n1 instance\n"), "{}", list.stdout);

    let killer = unique_name("cli_killer");
    db.sql(&format!(
        "CREATE USER '{killer}'@'%' IDENTIFIED BY 'killer-pw'; GRANT PROCESS ON *.* TO '{killer}'@'%'"
    ));
    // A DAS error in Chinese: the server checks the password by logging in.
    let out = cli
        .add_db_user(&name, &killer, "not-the-password", &["--lang", "zh-cn"])
        .await;
    out.fails(EXIT_FAILED, "错误：DAS.210002: 实例拒绝了数据库用户的登录");
    // By id this time; the password is not echoed.
    let out = cli
        .add_db_user(&instance_id, &killer, "killer-pw", &[])
        .await;
    assert!(out.ok().contains(&killer));
    assert!(!out.stdout.contains("killer-pw") && !out.stderr.contains("killer-pw"));
    let users = cli.run(&["db-users", "list", "--instance", &name]).await;
    assert!(users.ok().contains(&killer), "{}", users.stdout);
    // The only db user is the default one.
    cli.run(&["sessions", "list", "--instance", &name])
        .await
        .ok();

    cli.run(&["db-users", "rm", "--instance", &name, &killer])
        .await
        .ok();
    let users = cli.run(&["db-users", "list", "--instance", &name]).await;
    assert!(!users.ok().contains(&killer), "{}", users.stdout);
    let out = cli.run(&["sessions", "list", "--instance", &name]).await;
    out.fails(EXIT_FAILED, "no db user");

    cli.run(&["instances", "rm", &name]).await.ok();
    let list = cli.run(&["instances", "list"]).await;
    assert!(!list.ok().contains(&instance_id), "{}", list.stdout);
    let out = cli.run(&["instances", "rm", &name]).await;
    out.fails(EXIT_FAILED, "No instance");
}

#[tokio::test]
async fn sessions_list_as_a_table_as_json_and_filtered() {
    let KillSetup { app, db, ctx } = KillSetup::new("PROCESS, CONNECTION ADMIN").await;
    let cli = Cli::logged_in(&app, &ctx.project).await;
    let victim = new_victim(db, "cli_list");
    let database = new_database(db, "cli_list_db");

    let (_old, old_id) = idle(db, &victim, Some(&database)).await;
    // Only `old` has been in its state for 3 s when the lists below are taken.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (_fresh, fresh_id) = idle(db, &victim, None).await;
    let (running, running_id) = sleeping(db, &victim, Some(&database)).await;
    let mut all = vec![old_id, fresh_id, running_id];
    all.sort_unstable();
    let list = |extra: &[&str]| cli.list_sessions("maria", &victim, extra);

    // The time-based filters first, while the other two sessions are still young.
    let json = |extra: &'static [&'static str]| {
        let run = list(extra);
        async move { json_ids(run.await.ok()) }
    };
    assert_eq!(json(&["--min-time", "3", "--json"]).await, vec![old_id]);
    let out = list(&["--active", "--min-time", "3"]).await;
    assert!(
        out.ok().trim_end().ends_with("0 sessions"),
        "{}",
        out.stdout
    );
    assert_eq!(json(&["--min-time", "0", "--json"]).await, all);

    let out = list(&[]).await;
    let table = out.ok();
    assert_sessions_header(table);
    let header = table.lines().next().unwrap();
    assert_eq!(rows_of(table, &victim), all, "sorted by id:\n{table}");
    assert!(table.contains(&database), "{table}");
    assert!(table.trim_end().ends_with("3 sessions"), "{table}");
    // The SQL column lines up under its header.
    let sql_col = header.find("SQL").unwrap();
    let line = table
        .lines()
        .find(|l| l.contains("SELECT SLEEP(100)"))
        .unwrap();
    assert_eq!(line.find("SELECT SLEEP(100)"), Some(sql_col), "\n{table}");

    let out = list(&["--json"]).await;
    assert_eq!(json_ids(out.ok()), all);
    let rows: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rows[0]["user"], victim.as_str());
    assert!(rows[0]["trx_executed_time"].is_string());

    // The server-side database filter, then the other client-side ones.
    let mut in_db = vec![old_id, running_id];
    in_db.sort_unstable();
    let out = list(&["--database", &database, "--json"]).await;
    assert_eq!(json_ids(out.ok()), in_db);
    assert_eq!(
        json(&["--command", "query", "--json"]).await,
        vec![running_id]
    );
    let mut idle_ids = vec![old_id, fresh_id];
    idle_ids.sort_unstable();
    assert_eq!(json(&["--command", "Sleep", "--json"]).await, idle_ids);
    assert_eq!(json(&["--active", "--json"]).await, vec![running_id]);
    // Leave nothing running on the shared server.
    db.sql(&format!("KILL {running_id}"));
    drop(running);
}

/// Three idle sessions of a fresh user in a fresh database, and one of another user there.
struct Scene {
    victim: String,
    database: String,
    conns: Vec<(mysql_async::Conn, u64)>,
    bystander: (mysql_async::Conn, u64),
}

async fn scene(db: &crate::support::mariadb::MariaDb) -> Scene {
    let victim = new_victim(db, "cli_v");
    let other = new_victim(db, "cli_o");
    let database = new_database(db, "cli_db");
    let mut conns = vec![];
    for _ in 0..3 {
        conns.push(idle(db, &victim, Some(&database)).await);
    }
    let bystander = idle(db, &other, Some(&database)).await;
    Scene {
        victim,
        database,
        conns,
        bystander,
    }
}

fn kill_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["sessions", "kill", "--instance", "maria"];
    v.extend_from_slice(extra);
    v
}

#[tokio::test]
async fn kill_asks_first_and_only_yes_kills() {
    let KillSetup { app, db, ctx } = KillSetup::new("PROCESS, CONNECTION ADMIN").await;
    let cli = Cli::logged_in(&app, &ctx.project).await;
    let mut s = scene(db).await;
    let ids: Vec<u64> = s.conns.iter().map(|c| c.1).collect();
    let by_user = kill_args(&["--user", &s.victim]);

    // "no", EOF and a dry run all kill nothing, after showing the plan.
    for (stdin, extra) in [("no\n", None), ("", None), ("", Some("--dry-run"))] {
        let mut args = by_user.clone();
        args.extend(extra);
        let out = cli.input(&args, stdin).await;
        let stdout = out.ok();
        assert!(
            stdout.contains("3 sessions will be killed (connection):"),
            "{stdout}"
        );
        let mut shown = rows_of(stdout, &s.victim);
        shown.sort_unstable();
        assert_eq!(shown, ids, "{stdout}");
        if extra.is_some() {
            assert!(stdout.contains("Dry run: nothing was killed."), "{stdout}");
            assert!(!out.stderr.contains("[y/N]"));
        } else {
            assert!(
                out.stderr.contains("Kill these 3 sessions? [y/N]"),
                "{}",
                out.stderr
            );
            assert!(stdout.contains("Nothing was killed."), "{stdout}");
        }
        for (conn, id) in s.conns.iter_mut() {
            assert!(db.alive(*id) && usable(conn).await, "{stdin:?} {extra:?}");
        }
    }

    // "y" kills the victim's sessions in the database, not the bystander there.
    let mut args = kill_args(&["--user", &s.victim, "--database", &s.database, "--id"]);
    let first = ids[0].to_string();
    args.push(&first);
    let out = cli.input(&args, "y\n").await;
    let stdout = out.ok();
    assert!(stdout.contains("1 session will be killed"), "{stdout}");
    assert!(
        stdout.contains("Killed 1 (1 gone), skipped 0, not found 0, failed 0."),
        "{stdout}"
    );
    assert!(!db.alive(ids[0]));
    assert!(!usable(&mut s.conns[0].0).await);

    // --yes does not ask; an id with no session is reported, not an error.
    let (second, third) = (ids[1].to_string(), ids[2].to_string());
    let out = cli
        .run(&kill_args(&[
            "--id",
            &second,
            "--id",
            &third,
            "--id",
            "4000000000",
            "--yes",
        ]))
        .await;
    let stdout = out.ok();
    assert!(!out.stderr.contains("[y/N]"), "{}", out.stderr);
    assert!(
        stdout.contains("No session with id: 4000000000"),
        "{stdout}"
    );
    assert!(stdout.contains("Killed 2 (2 gone)"), "{stdout}");
    assert!(!db.alive(ids[1]) && !db.alive(ids[2]));
    assert!(db.alive(s.bystander.1) && usable(&mut s.bystander.0).await);

    // Nothing left: said so, and no question.
    let out = cli.run(&by_user).await;
    assert!(out.ok().contains("No session to kill."), "{}", out.stdout);
    assert!(!out.stderr.contains("[y/N]"));
    // No filter at all is a usage error.
    let out = cli.run(&kill_args(&["--yes"])).await;
    out.fails(EXIT_USAGE, "--id, --user, --database");

    // The history shows what was killed, newest first, and by whom.
    let out = cli.run(&["history", "--instance", "maria"]).await;
    let stdout = out.ok();
    assert!(
        stdout.lines().next().unwrap().starts_with("KILLED AT"),
        "{stdout}"
    );
    let shown = rows_of(stdout, &s.victim);
    assert_eq!(shown.len(), 3, "{stdout}");
    assert_eq!(shown[2], ids[0], "the first kill is the oldest:\n{stdout}");
    // The CLI names itself (X-Dbkill-Client: cli): its kills are `cli:<user>`, not `api:<user>`.
    assert!(
        stdout.contains("cli:admin") && stdout.contains(&s.victim),
        "{stdout}"
    );
    assert!(!stdout.contains("api:admin"), "{stdout}");
    assert!(stdout.contains("3 of 3 killed sessions"), "{stdout}");
    let history = ctx.history(&app, "").await;
    let sources: Vec<&str> = history["killed_sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["killed_source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["cli:admin"; 3], "{history}");
    let out = cli
        .run(&["history", "--instance", "maria", "--limit", "1"])
        .await;
    assert!(
        out.ok().contains("1 of 3 killed sessions"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn a_query_kill_keeps_the_connection() {
    let KillSetup { app, db, ctx } = KillSetup::new("PROCESS, CONNECTION ADMIN").await;
    let cli = Cli::logged_in(&app, &ctx.project).await;
    let victim = new_victim(db, "cli_q");
    let (task, id) = sleeping(db, &victim, None).await;
    let id_s = id.to_string();
    let out = cli
        .run(&kill_args(&["--id", &id_s, "--query", "--yes"]))
        .await;
    assert!(
        out.ok().contains("1 session will be killed (query):"),
        "{}",
        out.stdout
    );
    let (mut conn, _) = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the statement ended")
        .unwrap();
    assert!(db.alive(id) && usable(&mut conn).await);
}

#[tokio::test]
async fn a_kill_of_over_a_hundred_sessions_goes_in_chunks_and_kills_them_all() {
    let KillSetup { app, db, ctx } = KillSetup::new("PROCESS, CONNECTION ADMIN").await;
    let cli = Cli::logged_in(&app, &ctx.project).await;
    let victim = new_victim(db, "cli_many");
    const N: usize = 120;
    let mut conns = Vec::with_capacity(N);
    for _ in 0..N {
        conns.push(idle(db, &victim, None).await);
    }
    // 50 ids per request: three requests, whose reports the CLI must merge.
    let out = cli
        .run(&kill_args(&[
            "--user",
            &victim,
            "--yes",
            "--chunk-size",
            "50",
        ]))
        .await;
    let stdout = out.ok();
    assert!(
        stdout.contains(&format!("{N} sessions will be killed")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "Killed {N} ({N} gone), skipped 0, not found 0, failed 0."
        )),
        "{stdout}"
    );
    assert!(db.processlist_ids(&victim).is_empty());
    for (conn, _) in conns.iter_mut().take(3) {
        assert!(!usable(conn).await);
    }
}

#[tokio::test]
async fn sessions_the_server_refuses_to_kill_give_exit_code_3() {
    // PROCESS only: the killer sees other users' sessions but may not kill them.
    let KillSetup { app, db, ctx } = KillSetup::new("PROCESS").await;
    let cli = Cli::logged_in(&app, &ctx.project).await;
    let victim = new_victim(db, "cli_denied");
    let (mut conn, id) = idle(db, &victim, None).await;
    let out = cli.run(&kill_args(&["--user", &victim, "--yes"])).await;
    out.exited(EXIT_KILL_FAILED);
    assert!(out.stdout.contains("DAS.210003"), "{}", out.stdout);
    assert!(out.stdout.contains("failed 1."), "{}", out.stdout);
    assert!(db.alive(id) && usable(&mut conn).await);
}

#[tokio::test]
async fn instances_take_a_tls_mode_and_a_ca_file() {
    let app = spawn_app().await;
    let project = app.create_project(&unique_name("cli_tls")).await;
    let cli = Cli::logged_in(&app, &project).await;
    let files = tempfile::tempdir().unwrap();
    let ca = crate::helpers::pki::TestCa::new("cli CA").write(files.path(), "ca.pem");
    let name = unique_name("tls");
    let add = |ca: String, name: String| {
        let cli = &cli;
        async move {
            cli.run(&[
                "instances",
                "add",
                "--name",
                &name,
                "--type",
                "mysql",
                "--host",
                "db.internal",
                "--port",
                "3306",
                "--tls-mode",
                "VERIFY_CA",
                "--tls-ca",
                &ca,
            ])
            .await
        }
    };
    add(ca.display().to_string(), name.clone()).await.ok();
    let list = cli.run(&["instances", "list"]).await;
    let line = list
        .ok()
        .lines()
        .find(|l| l.contains(&name))
        .unwrap_or_else(|| panic!("{}", list.stdout));
    assert!(line.contains("verify_ca"), "{line}");
    let instance = app
        .expect(
            reqwest::Method::GET,
            &format!("/v3/{project}/instances"),
            None,
            200,
        )
        .await;
    assert_eq!(instance["instances"][0]["tls_ca_set"], true, "{instance}");
    add("/nonexistent/ca.pem".into(), unique_name("tls"))
        .await
        .fails(EXIT_USAGE, "--tls-ca /nonexistent/ca.pem");
}
