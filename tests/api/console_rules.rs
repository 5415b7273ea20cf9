//! The console's Auto kill tab in a browser (`tests/browser/rules.mjs`): a DBA turns auto kill on,
//! describes a rule whose live preview shows exactly one idle session of the throwaway mariadbd,
//! creates it, sees it kill that session and stops it; the history names the rule. A user who is
//! a viewer on the project (operator elsewhere) is refused the switch and may only preview. Then,
//! on the server: the session is gone, a bystander lives, the rule is stored as typed and stopped,
//! and the history row carries the rule.

use std::path::PathBuf;

use serde_json::Value;

use crate::helpers::app::{ADMIN_PASSWORD, uuid_hex};
use crate::helpers::browser::{assert_png, project_name, repo, run_scenario};
use crate::helpers::fixtures::{idle, killer_ctx, left_server, new_victim, usable};
use crate::helpers::rules::{Rules, spawn_rules_app};
use crate::support::mariadb::{shared, unique_name};

const RULE_NAME: &str = "long reports";
const VIEWER_PASSWORD: &str = "viewer-password-1";

#[tokio::test]
async fn in_a_browser_a_dba_creates_a_rule_from_its_preview_watches_it_kill_and_stops_it() {
    // A short tick, so the kill follows the creation quickly.
    let app = spawn_rules_app().await;
    let db = shared();
    let ctx = killer_ctx(&app, db, "PROCESS, CONNECTION ADMIN", &[]).await;
    let project_name = project_name(&app, &ctx.project).await;
    let victim_user = new_victim(db, "rulevic");
    let (mut victim_conn, victim) = idle(db, &victim_user, None).await;
    // Idle too, for as long, but another user: the rule's condition leaves it out.
    let bystander_user = new_victim(db, "rulebys");
    let (mut bystander_conn, bystander) = idle(db, &bystander_user, None).await;

    // A viewer here and an operator elsewhere: the console cannot tell from the token.
    let viewer = format!("viewer_{}", &uuid_hex()[..10]);
    let viewer_id = app.create_user(&viewer, VIEWER_PASSWORD).await;
    app.bind(&ctx.project, &viewer_id, "viewer").await;
    let elsewhere = app.create_project(&unique_name("p")).await;
    app.bind(&elsewhere, &viewer_id, "operator").await;

    let screenshot: PathBuf = repo().join("target/console-rules.png");
    let list_shot = screenshot.with_file_name("console-rules-list.png");
    let viewer_shot = screenshot.with_file_name("console-rules-viewer.png");
    // Screenshots of an earlier run must not pass for this one's.
    for shot in [&screenshot, &list_shot, &viewer_shot] {
        let _ = std::fs::remove_file(shot);
    }
    let (victim_id, bystander_id) = (victim.to_string(), bystander.to_string());
    let stdout = run_scenario(
        "rules.mjs",
        &[
            ("DBKILL_CONSOLE_URL", &app.base),
            ("DBKILL_CONSOLE_USER", "admin"),
            ("DBKILL_CONSOLE_PASSWORD", ADMIN_PASSWORD),
            ("DBKILL_CONSOLE_PROJECT", &project_name),
            ("DBKILL_CONSOLE_INSTANCE", "maria"),
            ("DBKILL_RULES_VICTIM", &victim_id),
            ("DBKILL_RULES_VICTIM_USER", &victim_user),
            ("DBKILL_RULES_BYSTANDER", &bystander_id),
            ("DBKILL_RULES_NAME", RULE_NAME),
            ("DBKILL_RULES_VIEWER", &viewer),
            ("DBKILL_RULES_VIEWER_PASSWORD", VIEWER_PASSWORD),
            ("DBKILL_CONSOLE_SCREENSHOT", screenshot.to_str().unwrap()),
        ],
    )
    .await;
    let task_id: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("rules.mjs: rule ")?.strip_suffix(" created"))
        .unwrap_or_else(|| panic!("no rule id in:\n{stdout}"))
        .parse()
        .unwrap();

    // The session the preview showed is gone, its client broken; the bystander lives.
    assert!(
        left_server(db, victim).await,
        "session {victim} is still there"
    );
    assert!(!usable(&mut victim_conn).await, "the victim's client works");
    assert!(db.alive(bystander), "the bystander {bystander} was killed");
    assert!(usable(&mut bystander_conn).await, "the bystander broke");

    // The switch the admin turned on stays on: the viewer's attempt was refused.
    let rules = Rules::of(&app, &ctx);
    assert_eq!(rules.switch().await, "ON");

    // The rule as the form described it, stopped by the console, its kill counted.
    let list = rules.list().await;
    assert_eq!(list.len(), 1, "{list:?}");
    let rule = &list[0];
    for (field, want) in [
        ("task_id", Value::from(task_id)),
        ("name", Value::from(RULE_NAME)),
        ("user", Value::from(victim_user.as_str())),
        ("command", Value::from("Sleep")),
        ("time", Value::from(1)),
        ("task_duration", Value::from(-1)),
        ("task_type", Value::from("auto")),
        ("mode", Value::from("enforce")),
        ("kill_type", Value::from("connection")),
        ("db_user_id", Value::from(ctx.db_user_id.as_str())),
        ("task_state", Value::from(2)),
        ("killed_total", Value::from(1)),
    ] {
        assert_eq!(rule[field], want, "{field}: {rule}");
    }

    // The history row of the kill carries the rule.
    let history = ctx.history(&app, "page_size=100").await;
    assert_eq!(history["total_count"], 1, "{history}");
    let row = &history["killed_sessions"][0];
    assert_eq!(row["session_id"], victim, "{row}");
    assert_eq!(row["task_id"], task_id, "{row}");
    assert_eq!(
        row["killed_source"],
        Value::from(format!("rule:{task_id}")),
        "{row}"
    );

    for shot in [&screenshot, &list_shot, &viewer_shot] {
        assert_png(shot);
    }
}
