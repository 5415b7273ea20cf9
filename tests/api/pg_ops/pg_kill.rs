//! `kill-process` on a PostgreSQL instance (`in03`) whose default db user has
//! pg_read_all_stats and pg_signal_backend: only the pairs whose pid and user both match end —
//! idle, active and idle-in-transaction backends, over TCP and the socket — while a pair with
//! the wrong user, a protected role's backend and a superuser's backend (which the db user may
//! not signal) live on, as the server shows; `count` says how many ended and the history has a
//! row for each. A MySQL `engine_type` changes nothing.

use serde_json::json;

use crate::helpers::app::spawn_app;
use crate::helpers::errors::assert_das_error_says;
use crate::helpers::fixtures::history_ids;
use crate::helpers::pg::{
    PgVictim, SEES_AND_SIGNALS, Via, end_all, new_database, new_role, pg_default_ctx,
};
use crate::helpers::pg_ops::{PgOps, kill_body};
use crate::support::postgres::shared;

/// An id no backend has (beyond any pid).
const NO_SUCH_ID: u64 = 4_000_000_000;

#[tokio::test]
async fn kill_process_ends_exactly_the_matching_backends_of_a_postgresql_instance() {
    // Every pair names the test's own backends: the shared cluster is safe.
    let pg = shared();
    let app = spawn_app().await;
    let kept = new_role(pg, "kept", "");
    let ctx = pg_default_ctx(&app, pg, SEES_AND_SIGNALS, &[&kept]).await;
    let ops = PgOps::new(&app, &ctx.project, &ctx.instance);
    let (ua, ub) = (new_role(pg, "ka", ""), new_role(pg, "kb", ""));
    let admin = new_role(pg, "kadmin", "SUPERUSER");
    let db = new_database(pg, "kdb");
    let mut x1 = PgVictim::idle(pg, &ua, &db, Via::Tcp, "x1").await;
    let mut x2 = PgVictim::sleeping(pg, &ua, &db, Via::Tcp, "x2").await;
    let mut x3 = PgVictim::in_transaction(pg, &ua, &db, "x3").await;
    let mut y1 = PgVictim::idle(pg, &ub, &db, Via::Tcp, "y1").await;
    let mut y2 = PgVictim::idle(pg, &ub, &db, Via::Socket, "y2").await;
    let mut p1 = PgVictim::idle(pg, &kept, &db, Via::Tcp, "p1").await;
    let mut s1 = PgVictim::idle(pg, &admin, &db, Via::Tcp, "s1").await;
    let pairs = [
        (x1.id(), ua.as_str()),
        (x2.id(), &ua),
        (x3.id(), &ua),
        (y1.id(), &ua),
        (y2.id(), &ub),
        (p1.id(), &kept),
        (s1.id(), &admin),
        (NO_SUCH_ID, &ua),
        (x1.id(), &ua),
    ];

    // An engine that does not fit an in03 instance: refused before anything happens.
    for engine in ["mysql", "MariaDB"] {
        let r = ops
            .kill_as(&app.admin_token, kill_body(engine, &pairs))
            .await;
        assert_das_error_says(&r, 400, "DAS.200107", "engine_type");
    }
    for b in [
        &mut x1, &mut x2, &mut x3, &mut y1, &mut y2, &mut p1, &mut s1,
    ] {
        assert!(b.still_works(pg).await, "{} was touched", b.label);
    }
    assert_eq!(ctx.history(&app, "").await["total_count"], 0);

    // x1, x2, x3 (ua's) and y2 (ub's) match; y1 is not ua's, p1 is protected, s1 is a
    // superuser's, NO_SUCH_ID is no backend, and x1 twice is one backend.
    let r = ops.kill("postgresql", &pairs).await;
    assert_eq!(r.body, json!({"count": 4}), "{}", r.text);
    let request_id = r.headers["x-request-id"].to_str().unwrap().to_owned();
    for b in [&mut x1, &mut x2, &mut x3, &mut y2] {
        assert!(b.died(pg).await, "{} survived", b.label);
    }
    assert!(
        y1.still_works(pg).await,
        "a pair with the wrong user was killed"
    );
    assert!(
        p1.still_works(pg).await,
        "a protected role's backend was killed"
    );
    assert!(
        s1.still_works(pg).await,
        "a superuser's backend was killed without superuser"
    );
    assert_eq!(pg.pids(&ua), [] as [i32; 0]);
    assert_eq!(pg.pids(&ub), [y1.pid]);
    let h = ctx.history(&app, "").await;
    assert_eq!(h["total_count"], 4, "{h}");
    assert_eq!(history_ids(&h), [x1.id(), x2.id(), x3.id(), y2.id()].into());
    for row in h["killed_sessions"].as_array().unwrap() {
        assert_eq!(row["killed_source"], "api:admin", "{row}");
        assert_eq!(row["task_id"], 0, "{row}");
        assert_eq!(row["request_id"], request_id.as_str(), "{row}");
        let user = if row["session_id"] == y2.id() {
            &ub
        } else {
            &ua
        };
        assert_eq!(row["user"], user.as_str(), "{row}");
    }

    // An operator names the right pair and one already gone: only what ended now counts.
    let operator = app.user_with_role(&ctx.project, "operator").await;
    let r = ops
        .kill_as(
            &operator,
            kill_body("PostgreSQL", &[(y1.id(), &ub), (x1.id(), &ua)]),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body.clone()),
        (200, json!({"count": 1})),
        "{}",
        r.text
    );
    assert!(y1.died(pg).await, "y1 survived");
    assert_eq!(ctx.history(&app, "").await["total_count"], 5);
    assert!(p1.still_works(pg).await && s1.still_works(pg).await);

    let all: [&PgVictim; 7] = [&x1, &x2, &x3, &y1, &y2, &p1, &s1];
    end_all(pg, all);
}
