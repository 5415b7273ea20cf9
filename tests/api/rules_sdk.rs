//! The unmodified official Python SDK drives the seven DAS auto-flow operations against kill rules
//! on a real server (`tests/sdk/das_auto_flow.py`): the switch, a preview, a rule that kills its
//! victims (history with `task_id` and `rule:<id>`), stopping it, and kill-all. Afterwards the
//! server shows who died. The server is the test's own: kill-all kills every unprotected client
//! session on it.

use std::time::Duration;

use crate::helpers::fixtures::{create_victim_user, idle, killer_ctx, new_victim, usable};
use crate::helpers::rules::spawn_rules_app;
use crate::helpers::sdk::{admin_access_key, run_sdk_script};
use crate::support::mariadb::{MariaDb, MariaDbOptions, unique_name};

const KILLER_GRANTS: &str = "PROCESS, CONNECTION ADMIN";

fn joined(sessions: &[(mysql_async::Conn, u64)]) -> String {
    sessions
        .iter()
        .map(|(_, id)| id.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[tokio::test]
async fn the_official_python_sdk_drives_the_seven_auto_flow_operations() {
    let db = MariaDb::start(MariaDbOptions {
        event_scheduler: false,
        ..MariaDbOptions::default()
    });
    let app = spawn_rules_app().await;
    let protected = unique_name("kept");
    create_victim_user(&db, &protected);
    let ctx = killer_ctx(&app, &db, KILLER_GRANTS, &[&protected]).await;
    let key = admin_access_key(&app).await;

    let ruled = new_victim(&db, "ruled");
    let other = new_victim(&db, "others");
    let mut victims = vec![];
    for _ in 0..2 {
        victims.push(idle(&db, &ruled, None).await);
    }
    let mut others = vec![];
    for _ in 0..3 {
        others.push(idle(&db, &other, None).await);
    }
    let mut kept = idle(&db, &protected, None).await;
    // The rule (and its preview) takes sessions idle for a second or more.
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    run_sdk_script(
        "das_auto_flow.py",
        vec![
            ("DBKILL_ENDPOINT", app.base.clone()),
            ("DBKILL_AK", key.access),
            ("DBKILL_SK", key.secret),
            ("DBKILL_PROJECT", ctx.project.clone()),
            ("DBKILL_INSTANCE", ctx.instance.clone()),
            ("DBKILL_VICTIM_USER", ruled.clone()),
            ("DBKILL_VICTIM_IDS", joined(&victims)),
            ("DBKILL_OTHER_IDS", joined(&others)),
        ],
    )
    .await;

    for (conn, id) in victims.iter_mut().chain(others.iter_mut()) {
        assert!(!db.alive(*id), "{id} survived");
        assert!(!usable(conn).await, "{id}'s connection works");
    }
    assert!(db.alive(kept.1), "the protected user's session was killed");
    assert!(usable(&mut kept.0).await);
}
