//! kill-all-session: refused while the instance's switch is OFF; while it is ON, it kills every
//! unprotected client session of the instance, as one KillSession would (history `task_id` 0),
//! and spares protected users, the server's threads and dbkill's own connections.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{KILLER_GRANTS, private_server};
use crate::helpers::errors::assert_das_error;
use crate::helpers::fixtures::{
    history_ids, killer_ctx, new_database, new_victim, wait_until_only_the_lifeline,
};
use crate::helpers::rules::{Rules, TICK, spawn_rules_app};
use crate::helpers::sessions::{Via, idle_victim, ids, sleeping_victim, wait_gone};

#[tokio::test]
async fn kill_all_sessions_needs_the_switch_on_and_then_kills_every_unprotected_client() {
    // Its own server: kill-all would end every other test's sessions.
    let db = private_server(false);
    let app = spawn_rules_app().await;
    let (keep, a, b) = (
        new_victim(&db, "keep"),
        new_victim(&db, "all_a"),
        new_victim(&db, "all_b"),
    );
    let database = new_database(&db, "alldb");
    let ctx = killer_ctx(&app, &db, KILLER_GRANTS, &[&keep]).await;
    let rules = Rules::of(&app, &ctx);
    let lifeline = wait_until_only_the_lifeline(&db, &ctx.killer).await;
    let scheduler = db.processlist_ids("event_scheduler");
    assert_eq!(scheduler.len(), 1, "the event scheduler runs");

    let mut protected = vec![
        idle_victim(&db, &keep, None, Via::Tcp, "protected idle").await,
        sleeping_victim(&db, &keep, Some(&database), Via::Tcp, "protected running").await,
    ];
    // Young and old, idle and running, two users, with and without a database: all go.
    let mut victims = vec![
        idle_victim(&db, &a, None, Via::Tcp, "a idle").await,
        sleeping_victim(&db, &a, Some(&database), Via::Tcp, "a running").await,
        idle_victim(
            &db,
            &b,
            Some(&database),
            Via::Socket,
            "b idle over the socket",
        )
        .await,
        sleeping_victim(&db, &b, None, Via::Tcp, "b running").await,
    ];

    let refused = rules.kill_all().await;
    assert_das_error(&refused, 400, "DAS.200100");
    assert!(
        refused.msg().to_lowercase().contains("switch"),
        "the message says why: {}",
        refused.msg()
    );
    tokio::time::sleep(TICK * 2).await;
    for v in victims.iter_mut().chain(protected.iter_mut()) {
        assert!(
            v.alive(&db),
            "{} was killed while the switch is OFF",
            v.label
        );
    }
    assert_eq!(ctx.history(&app, "").await["total_count"], 0);

    rules.switch_on().await;
    let r = rules.kill_all().await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    assert_eq!(r.body, json!({"success": true}), "{}", r.text);
    // It answers after killing (no rule runs that could do it later): they are gone at once,
    // give or take the server's own time to end a session.
    let still = wait_gone(&db, &ids(&victims), Instant::now() + Duration::from_secs(3)).await;
    assert!(still.is_empty(), "still there after the answer: {still:?}");
    for v in &mut victims {
        assert!(v.died(&db).await, "{}'s client saw no end", v.label);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    for v in &mut protected {
        assert!(v.still_works(&db).await, "{} was killed", v.label);
    }
    assert!(db.alive(lifeline), "dbkill's lifeline was killed");
    assert!(db.alive(scheduler[0]), "the event scheduler was killed");

    let h = ctx.history(&app, "").await;
    let rows = h["killed_sessions"].as_array().unwrap();
    let killed = history_ids(&h);
    assert_eq!(killed, ids(&victims), "{h}");
    for r in rows {
        assert_eq!(r["task_id"], 0, "{r}");
        assert!(
            !r["killed_source"].as_str().unwrap().starts_with("rule:"),
            "{r}"
        );
    }
}
