//! `kill-process` on a MariaDB instance: only the pairs whose id and user both match die, a
//! protected user's session never does, `count` says how many died, and the history has a row
//! for each, as for KillSession. Bad bodies, an engine that does not fit the instance and a
//! viewer change nothing.

use serde_json::json;

use crate::helpers::app::spawn_app;
use crate::helpers::errors::{assert_das_error, assert_das_error_says};
use crate::helpers::fixtures::{create_victim_user, history_ids, killer_ctx, new_victim};
use crate::helpers::pg_ops::{PgOps, kill_body};
use crate::helpers::sessions::{Via, Victim, end_all, idle_victim, sleeping_victim};
use crate::support::mariadb::{shared, unique_name};

use super::KILLER_GRANTS;

/// An id no session has (MariaDB's ids are far below it).
const NO_SUCH_ID: u64 = 4_000_000_000;

#[tokio::test]
async fn kill_process_kills_exactly_the_matching_pairs() {
    // Every pair names the test's own accounts: the shared server is safe.
    let db = shared();
    let app = spawn_app().await;
    let kept = unique_name("kept");
    create_victim_user(db, &kept);
    let ctx = killer_ctx(&app, db, KILLER_GRANTS, &[&kept]).await;
    let ops = PgOps::new(&app, &ctx.project, &ctx.instance);
    let (ua, ub) = (new_victim(db, "ka"), new_victim(db, "kb"));
    let mut x1 = idle_victim(db, &ua, None, Via::Tcp, "x1").await;
    let mut x2 = sleeping_victim(db, &ua, None, Via::Tcp, "x2").await;
    let mut y1 = idle_victim(db, &ub, None, Via::Tcp, "y1").await;
    let mut y2 = idle_victim(db, &ub, None, Via::Socket, "y2").await;
    let mut p1 = idle_victim(db, &kept, None, Via::Tcp, "p1").await;
    let pairs = [
        (x1.id, ua.as_str()),
        (x2.id, &ua),
        (y1.id, &ua),
        (y2.id, &ub),
        (p1.id, &kept),
        (NO_SUCH_ID, &ua),
        (x1.id, &ua),
    ];

    // Refused before anything happens.
    let valid = kill_body("mysql", &pairs);
    let many: Vec<(u64, &str)> = (0..1001).map(|i| (NO_SUCH_ID + i, ua.as_str())).collect();
    for (body, code, says) in [
        (json!({}), "DAS.200100", "engine_type"),
        (json!({"engine_type": "mysql"}), "DAS.200100", "processes"),
        (
            json!({"engine_type": "mysql", "processes": []}),
            "DAS.200100",
            "processes",
        ),
        (
            json!({"engine_type": "mysql", "processes": {"id": 1}}),
            "DAS.200100",
            "processes",
        ),
        (
            json!({"engine_type": "mysql", "processes": [{"id": x1.id, "user": ua}, {"id": x2.id.to_string(), "user": ua}]}),
            "DAS.200100",
            "processes[1].id",
        ),
        (
            json!({"engine_type": "mysql", "processes": [{"id": -1, "user": ua}]}),
            "DAS.200100",
            "processes[0].id",
        ),
        (
            json!({"engine_type": "mysql", "processes": [{"id": x1.id}]}),
            "DAS.200100",
            "processes[0].user",
        ),
        (kill_body("mysql", &many), "DAS.200100", "processes"),
        (kill_body("postgresql", &pairs), "DAS.200107", "engine_type"),
        (kill_body("oracle", &pairs), "DAS.200107", "engine_type"),
    ] {
        let r = ops.kill_as(&app.admin_token, body).await;
        assert_das_error_says(&r, 400, code, says);
    }
    let r = app
        .raw_request(
            reqwest::Method::POST,
            &format!(
                "/v3/{}/instances/{}/kill-process",
                ctx.project, ctx.instance
            ),
            Some(&app.admin_token),
            &[],
            Some(b"{\"engine_type\": \"mysql\", \"processes\": [".to_vec()),
        )
        .await;
    assert_das_error(&r, 400, "DAS.200100");
    let viewer = app.user_with_role(&ctx.project, "viewer").await;
    assert_das_error(
        &ops.kill_as(&viewer, valid.clone()).await,
        403,
        "APIGW.0302",
    );
    for v in [&mut x1, &mut x2, &mut y1, &mut y2, &mut p1] {
        assert!(v.still_works(db).await, "{} was touched", v.label);
    }
    assert_eq!(ctx.history(&app, "").await["total_count"], 0);

    // x1, x2 (ua's) and y2 (ub's) match; y1 is not ua's, p1 is protected, NO_SUCH_ID is no
    // session, and x1 twice is one session.
    let r = ops.kill("MySQL", &pairs).await;
    assert_eq!(r.body, json!({"count": 3}), "{}", r.text);
    let request_id = r.headers["x-request-id"].to_str().unwrap().to_owned();
    for v in [&mut x1, &mut x2, &mut y2] {
        assert!(v.died(db).await, "{} survived", v.label);
    }
    assert!(
        y1.still_works(db).await,
        "a pair with the wrong user was killed"
    );
    assert!(
        p1.still_works(db).await,
        "a protected user's session was killed"
    );
    let h = ctx.history(&app, "").await;
    assert_eq!(h["total_count"], 3, "{h}");
    assert_eq!(history_ids(&h), [x1.id, x2.id, y2.id].into());
    for row in h["killed_sessions"].as_array().unwrap() {
        assert_eq!(row["killed_source"], "api:admin", "{row}");
        assert_eq!(row["task_id"], 0, "{row}");
        assert_eq!(row["request_id"], request_id.as_str(), "{row}");
        let user = if row["session_id"] == y2.id { &ub } else { &ua };
        assert_eq!(row["user"], user.as_str(), "{row}");
    }

    // An operator kills the right pair; the answer counts only what died now.
    let operator = app.user_with_role(&ctx.project, "operator").await;
    let r = ops
        .kill_as(
            &operator,
            kill_body("mariadb", &[(y1.id, &ub), (x1.id, &ua)]),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body.clone()),
        (200, json!({"count": 1})),
        "{}",
        r.text
    );
    assert!(y1.died(db).await);
    let h = ctx.history(&app, "").await;
    assert_eq!(h["total_count"], 4, "{h}");
    let newest = &h["killed_sessions"][0];
    assert_eq!(newest["session_id"], y1.id);
    assert!(
        newest["killed_source"]
            .as_str()
            .unwrap()
            .starts_with("api:operator_"),
        "{newest}"
    );
    assert!(p1.still_works(db).await);

    let all: [&Victim; 5] = [&x1, &x2, &y1, &y2, &p1];
    end_all(db, all).await;
}
