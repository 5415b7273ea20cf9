//! `dbkill rules …` run as the real binary against `spawn_app()` and the shared throwaway
//! mariadbd: the switch, a preview of a real sleeping session, an add declined then confirmed
//! (with the warning while the switch is OFF), the rule in `rules list` and in the HTTP API, its
//! kill in the history as `rule:<id>`, stop, and DAS errors.

use std::time::Duration;

use dbkill::cli::EXIT_FAILED;
use serde_json::Value;

use crate::helpers::cli::{Cli, rows_of};
use crate::helpers::fixtures::{killer_ctx, left_server, new_victim, sleeping};
use crate::helpers::rules::{Rules, listed_rule, spawn_rules_app};
use crate::support::mariadb::shared;

/// Runs `dbkill rules <sub> --instance maria extra…` (with `stdin`).
async fn rules(cli: &Cli, sub: &str, extra: &[&str], stdin: &str) -> crate::helpers::cli::Out {
    let mut args = vec!["rules", sub, "--instance", "maria"];
    args.extend_from_slice(extra);
    cli.input(&args, stdin).await
}

/// The id `Rule <id> added.` names.
fn added_id(stdout: &str) -> i64 {
    stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("Rule ")?
                .strip_suffix(" added.")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no new rule id in:\n{stdout}"))
}

/// The whitespace-separated cells of rule `id`'s row in `rules list`.
fn row_of(table: &str, id: i64) -> Vec<String> {
    let id = id.to_string();
    table
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|t| t.first() == Some(&id))
        .unwrap_or_else(|| panic!("no rule {id} in:\n{table}"))
}

/// The MATCHED and KILLED cells of a row: the two after the kill type.
fn counters(row: &[String], kill_type: &str) -> (String, String) {
    let k = row
        .iter()
        .position(|c| c == kill_type)
        .unwrap_or_else(|| panic!("{row:?}"));
    (row[k + 1].clone(), row[k + 2].clone())
}

#[tokio::test]
async fn rules_are_previewed_added_listed_and_stopped_from_the_cli() {
    // A short tick: the rule's kill is awaited below.
    let app = spawn_rules_app().await;
    let db = shared();
    let ctx = killer_ctx(&app, db, "PROCESS, CONNECTION ADMIN", &[]).await;
    // The same rules as the HTTP API shows them.
    let api = Rules::of(&app, &ctx);
    let cli = Cli::logged_in(&app, &ctx.project).await;
    let victim = new_victim(db, "cli_rv");
    let bystander = new_victim(db, "cli_rb");
    let (_victim_task, victim_id) = sleeping(db, &victim, None).await;
    let (_bystander_task, bystander_id) = sleeping(db, &bystander, None).await;
    // Both have been in `User sleep` for a second when the rules below look.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let out = rules(&cli, "switch", &[], "").await;
    assert!(
        out.ok().contains("The switch of instance maria is OFF."),
        "{}",
        out.stdout
    );

    // The preview lists the victim's session, not the bystander's, and kills nothing. The db
    // user may be named like anywhere else.
    let out = rules(
        &cli,
        "preview",
        &["--user", &victim, "--time", "1", "--db-user", &ctx.killer],
        "",
    )
    .await;
    let stdout = out.ok();
    assert!(
        stdout.contains("1 session matches the rule now:"),
        "{stdout}"
    );
    assert_eq!(rows_of(stdout, &victim), [victim_id], "{stdout}");
    assert!(rows_of(stdout, &bystander).is_empty(), "{stdout}");
    assert!(stdout.contains("SELECT SLEEP(100)"), "{stdout}");
    let out = rules(&cli, "preview", &["--user", &victim, "--time", "3600"], "").await;
    assert!(
        out.ok().contains("No session matches the rule now."),
        "{}",
        out.stdout
    );
    let out = rules(
        &cli,
        "preview",
        &["--user", &victim, "--time", "1", "--db-user", "nobody"],
        "",
    )
    .await;
    out.fails(EXIT_FAILED, "No db user \"nobody\"");

    // Without a yes (end of input here) nothing is added.
    let add = ["--user", &victim, "--time", "1", "--until-stopped"];
    let out = rules(&cli, "add", &add, "").await;
    assert_eq!(rows_of(out.ok(), &victim), [victim_id], "{}", out.stdout);
    assert!(
        out.stderr
            .contains("Add this rule? Right now it would kill 1 session (connection). [y/N]"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("No rule was added."), "{}", out.stdout);
    assert!(api.list().await.is_empty());
    let out = rules(&cli, "list", &[], "").await;
    assert!(out.ok().contains("0 rules"), "{}", out.stdout);

    // An observing rule added while the switch is OFF: added, with a warning that it won't run.
    let mut observe = add.to_vec();
    observe.extend(["--observe", "--name", "watch", "--yes"]);
    let out = rules(&cli, "add", &observe, "").await;
    let watch = added_id(out.ok());
    assert!(!out.stderr.contains("[y/N]"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("warning: the switch of instance maria is OFF")
            && out
                .stderr
                .contains("dbkill rules switch on --instance maria"),
        "{}",
        out.stderr
    );
    assert!(db.alive(victim_id));
    // The list says so too while a rule is running.
    let out = rules(&cli, "list", &[], "").await;
    assert_eq!(row_of(out.ok(), watch)[2], "running", "{}", out.stdout);
    assert!(
        out.stderr.contains("switch of instance maria is OFF"),
        "{}",
        out.stderr
    );

    let out = rules(&cli, "switch", &["on"], "").await;
    assert!(out.ok().contains("is now ON"), "{}", out.stdout);
    let out = rules(&cli, "switch", &[], "").await;
    assert!(out.ok().contains("is ON."), "{}", out.stdout);

    // Switch ON: `y` adds a killing rule, without the warning, and it kills the victim. Its db
    // user is named (the watching rule has none: the instance's default at each tick).
    let killing = [
        "--user",
        &victim,
        "--time",
        "1",
        "--duration",
        "600",
        "--name",
        "runaway",
        "--db-user",
        &ctx.killer,
    ];
    let out = rules(&cli, "add", &killing, "y\n").await;
    let runaway = added_id(out.ok());
    assert!(out.stderr.contains("[y/N]"), "{}", out.stderr);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    assert!(
        left_server(db, victim_id).await,
        "the rule did not kill {victim_id}"
    );
    // A tick records its counters after it has seen its victims leave: wait for them.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while api.get(runaway).await["killed_total"] != 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The HTTP API shows both rules as the CLI asked for them.
    let listed = api.list().await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let r = listed_rule(&listed, runaway);
    for (field, want) in [
        ("user", Value::from(victim.as_str())),
        ("time", 1.into()),
        ("task_duration", 600.into()),
        ("task_type", "auto".into()),
        ("task_state", 1.into()),
        ("name", "runaway".into()),
        ("mode", "enforce".into()),
        ("kill_type", "connection".into()),
        ("db_user_id", ctx.db_user_id.as_str().into()),
    ] {
        assert_eq!(r[field], want, "{field}: {r}");
    }
    let w = listed_rule(&listed, watch);
    assert_eq!(
        (&w["mode"], &w["task_duration"], &w["end_time"], &w["name"]),
        (&"observe".into(), &(-1).into(), &0.into(), &"watch".into()),
        "{w}"
    );

    // `rules list` shows them with their state, conditions and counters.
    let out = rules(&cli, "list", &[], "").await;
    let table = out.ok();
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    let header = table.lines().next().unwrap();
    for col in [
        "ID",
        "NAME",
        "STATE",
        "MODE",
        "CONDITIONS",
        "KILL",
        "MATCHED",
        "KILLED",
        "LAST KILL",
        "START",
        "END",
    ] {
        assert!(header.contains(col), "{header}");
    }
    assert!(table.contains("2 rules"), "{table}");
    let row = row_of(table, runaway);
    let condition = format!("user={victim}");
    for cell in ["runaway", "running", "enforce", "time>=1", &condition] {
        assert!(row.iter().any(|c| c == cell), "{cell} in {row:?}");
    }
    assert_eq!(counters(&row, "connection").1, "1", "killed: {row:?}");
    // LAST KILL, START and END are times; the watching rule has no end.
    let times = row.iter().filter(|c| c.contains('T') && c.contains(':'));
    assert_eq!(times.count(), 3, "{row:?}");
    let row = row_of(table, watch);
    assert!(row.iter().any(|c| c == "observe"), "{row:?}");
    assert!(row.join(" ").ends_with("until stopped"), "{row:?}");
    assert_eq!(counters(&row, "connection").1, "0", "observe kills nothing");

    // The kill is the rule's in the history.
    let out = cli.run(&["history", "--instance", "maria"]).await;
    let stdout = out.ok();
    assert_eq!(rows_of(stdout, &victim), [victim_id], "{stdout}");
    assert!(stdout.contains(&format!("rule:{runaway}")), "{stdout}");

    // Stop both; an unknown id is the server's error.
    for id in [runaway, watch] {
        let id = id.to_string();
        let out = rules(&cli, "stop", &[&id], "").await;
        assert!(
            out.ok().contains(&format!("Rule {id} stopped.")),
            "{}",
            out.stdout
        );
    }
    let listed = api.list().await;
    assert!(listed.iter().all(|r| r["task_state"] == 2), "{listed:?}");
    let out = rules(&cli, "list", &[], "").await;
    assert_eq!(row_of(out.ok(), runaway)[2], "stopped", "{}", out.stdout);
    rules(&cli, "stop", &["999999"], "")
        .await
        .fails(EXIT_FAILED, "error: DAS.200100");

    let out = rules(&cli, "switch", &["OFF"], "").await;
    assert!(out.ok().contains("is now OFF"), "{}", out.stdout);
    assert_eq!(api.switch().await, "OFF");

    assert!(db.alive(bystander_id), "no rule matched the bystander");
    // Leave nothing running on the shared server.
    db.sql(&format!("KILL {bystander_id}"));
}
