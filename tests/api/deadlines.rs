//! Kills under a deadline against a real server: sleeping victims whose KILLs contend, and a
//! target stopped in the middle of a kill. Each answer is checked on the server afterwards.

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::helpers::app::{TestApp, spawn_app};
use crate::helpers::fixtures::{KillCtx, killer_ctx, new_victim, sleepers};
use crate::support::mariadb::{MariaDb, MariaDbOptions};

const KILLER_GRANTS: &str = "PROCESS, CONNECTION ADMIN";

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

fn ids(list: &Value, key: &str) -> HashSet<u64> {
    list[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let id = if v.is_string() { v } else { &v["id"] };
            id.as_str().unwrap().parse().unwrap()
        })
        .collect()
}

fn server(max_connections: u32, extra_args: &[&str]) -> MariaDb {
    MariaDb::start(MariaDbOptions {
        max_connections,
        event_scheduler: false,
        extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    })
}

#[tokio::test]
async fn two_hundred_sleepers_with_a_two_second_deadline_get_an_exact_answer_and_no_late_kill() {
    let db = server(400, &["--general-log=1", "--log-output=TABLE"]);
    let app = spawn_app().await;
    let ctx = killer_ctx(&app, &db, KILLER_GRANTS, &[]).await;
    let victim = new_victim(&db, "sleeper");
    let victims: HashSet<u64> = sleepers(&db, &victim, 200)
        .await
        .iter()
        .map(|s| s.1)
        .collect();
    db.sql("TRUNCATE mysql.general_log");

    let sent = now_us();
    let report = ctx
        .kill(&app, json!({"user": victim, "deadline_ms": 2000}))
        .await;
    let answered = now_us();
    assert!(
        answered - sent <= 3_000_000,
        "answered after {} ms",
        (answered - sent) / 1000
    );

    // Exact: every victim is killed or failed, and the server agrees with each.
    let killed = ids(&report, "killed");
    let failed = ids(&report, "failed");
    assert!(killed.is_disjoint(&failed));
    assert_eq!(&killed | &failed, victims, "{report}");
    assert!(!killed.is_empty(), "{report}");
    let listed: HashSet<u64> = db.processlist_ids(&victim).into_iter().collect();
    for k in report["killed"].as_array().unwrap() {
        let id: u64 = k["id"].as_str().unwrap().parse().unwrap();
        if k["gone"] == true {
            assert!(!listed.contains(&id), "{id} reported gone is still listed");
        }
    }
    // A failure that says the KILL may still take effect (it was sent, not answered in time)
    // may die later; the history settles it. Any other failed session is alive.
    let unconfirmed: HashSet<u64> = report["failed"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["error_msg"]
                .as_str()
                .unwrap()
                .contains("may still take effect")
        })
        .map(|f| f["id"].as_str().unwrap().parse().unwrap())
        .collect();
    for id in failed.difference(&unconfirmed) {
        assert!(db.alive(*id), "{id} reported failed is gone");
    }

    // No KILL reached the server after the answer (event_time is when a statement began).
    let kills = |cond: &str| {
        db.sql(&format!(
            "SELECT COUNT(*) FROM mysql.general_log WHERE argument LIKE 'KILL%' {cond}"
        ))
    };
    assert_ne!(kills(""), "0", "the kill sent no KILL at all");
    let late = kills(&format!(
        "AND UNIX_TIMESTAMP(event_time) * 1000000 > {}",
        answered + 2000
    ));
    assert_eq!(late, "0", "KILLs logged after the answer");

    // Within 30 s the history lists exactly the victims that died.
    let request_id = report["request_id"].as_str().unwrap();
    let since = Instant::now();
    loop {
        let listed: HashSet<u64> = db.processlist_ids(&victim).into_iter().collect();
        let dead: HashSet<u64> = victims.difference(&listed).copied().collect();
        if history_killed(&app, &ctx, request_id).await == dead {
            break;
        }
        assert!(since.elapsed() < Duration::from_secs(30), "{report}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every session the history lists as killed for `request_id` (all pages).
async fn history_killed(app: &TestApp, ctx: &KillCtx, request_id: &str) -> HashSet<u64> {
    let mut out = HashSet::new();
    for page in 1.. {
        let h = ctx
            .history(
                app,
                &format!("request_id={request_id}&page_size=100&page_num={page}"),
            )
            .await;
        let rows = h["killed_sessions"].as_array().unwrap();
        out.extend(rows.iter().map(|r| r["session_id"].as_u64().unwrap()));
        if rows.len() < 100 {
            return out;
        }
    }
    unreachable!()
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

#[tokio::test]
async fn a_target_stopped_mid_kill_answers_in_time_and_its_history_becomes_true_after_it_resumes() {
    let db = server(500, &[]);
    let app = spawn_app().await;
    let ctx = killer_ctx(&app, &db, KILLER_GRANTS, &[]).await;
    let victim = new_victim(&db, "stalled");
    let victims: Vec<u64> = sleepers(&db, &victim, 300)
        .await
        .iter()
        .map(|s| s.1)
        .collect();
    let pid = db.server_pid().unwrap();

    let sent = Instant::now();
    let stop = async {
        // Sleepers die one KILL per round trip: the kill is under way by now.
        tokio::time::sleep(Duration::from_millis(300)).await;
        signal(pid, "-STOP");
    };
    let (report, ()) = tokio::join!(
        ctx.kill(&app, json!({"user": victim, "deadline_ms": 3000})),
        stop
    );
    let took = sent.elapsed();
    signal(pid, "-CONT");
    assert!(
        took <= Duration::from_millis(4000),
        "answered after {took:?}"
    );
    let request_id = report["request_id"].as_str().unwrap().to_owned();

    // Within 30 s of the server answering again, the history lists exactly what died.
    let resumed = Instant::now();
    loop {
        let dead: HashSet<u64> = {
            let listed: HashSet<u64> = db.processlist_ids(&victim).into_iter().collect();
            victims
                .iter()
                .copied()
                .filter(|id| !listed.contains(id))
                .collect()
        };
        let history = history_killed(&app, &ctx, &request_id).await;
        if history == dead && !dead.is_empty() {
            break;
        }
        assert!(
            resumed.elapsed() < Duration::from_secs(30),
            "history {} ≠ dead {} 30 s after the server resumed; report: {report}",
            history.len(),
            dead.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
