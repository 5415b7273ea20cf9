//! `pg/query-process-list` on a MariaDB instance of its own (with the event scheduler, a system
//! thread): sessions of two accounts in two databases, idle and busy, over TCP and the socket;
//! each filter alone and together, pages, orders, the exact statistics, `hide_sys`, bad query
//! values and who may list.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::app::spawn_app;
use crate::helpers::errors::assert_das_error;
use crate::helpers::fixtures::{killer_ctx, new_database, new_victim};
use crate::helpers::pg_ops::{PgOps, exec_time_buckets, row, row_ids, time_of};
use crate::helpers::sessions::{Via, end_all, idle_victim, sleeping_victim};
use crate::support::mariadb::{MariaDb, MariaDbOptions, unique_name};

use super::KILLER_GRANTS;

/// Every field of the answer (DAS's `ListPostgresProcessesResponse`).
const FIELDS: [&str; 16] = [
    "process_info_list",
    "total",
    "user_info_list",
    "db_info_list",
    "host_info_list",
    "state_info_list",
    "command_info_list",
    "session_exec_time",
    "idle_session",
    "active_session",
    "summary",
    "user_stats",
    "host_stats",
    "db_stats",
    "show_version_support_message",
    "show_warn_message",
];

/// A host as the server lists it, without the port (`localhost:5123` → `localhost`).
fn address(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((addr, port)) if port.bytes().all(|b| b.is_ascii_digit()) => addr,
        _ => host,
    }
}

#[tokio::test]
async fn the_list_filters_pages_orders_and_counts_the_sessions_of_a_mariadb_instance() {
    let db = MariaDb::start(MariaDbOptions {
        event_scheduler: true,
        ..MariaDbOptions::default()
    });
    let app = spawn_app().await;
    let ctx = killer_ctx(&app, &db, KILLER_GRANTS, &[]).await;
    let ops = PgOps::new(&app, &ctx.project, &ctx.instance);
    let (ua, ub) = (new_victim(&db, "pa"), new_victim(&db, "pb"));
    let (d1, d2) = (new_database(&db, "d1"), new_database(&db, "d2"));
    let a1 = idle_victim(&db, &ua, Some(&d1), Via::Tcp, "a1").await;
    let a2 = idle_victim(&db, &ua, Some(&d2), Via::Tcp, "a2").await;
    let a3 = sleeping_victim(&db, &ua, Some(&d1), Via::Tcp, "marka3").await;
    let b1 = idle_victim(&db, &ub, Some(&d1), Via::Tcp, "b1").await;
    let b2 = sleeping_victim(&db, &ub, Some(&d1), Via::Tcp, "markb2").await;
    let b3 = idle_victim(&db, &ub, None, Via::Socket, "b3").await;
    let ids = |q: &Value| row_ids(q);

    // The default: idle sessions are left out of the rows, counted in the statistics.
    let l = ops.list(&format!("user={ua}")).await;
    let mut keys: Vec<&str> = l.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = FIELDS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected, "{l}");
    assert_eq!(ids(&l), [a3.id]);
    let r = row(&l, a3.id);
    let running = time_of(r);
    assert_eq!(
        r,
        &json!({"id": a3.id.to_string(), "user": ua, "host": r["host"], "db": d1, "command": "Query",
                "time": running.to_string(), "state": "User sleep",
                "info": "SELECT SLEEP(60), 'marka3'", "trx_duration": "0"})
    );
    assert_eq!(l["total"], 1);
    assert_eq!(
        (l["idle_session"].clone(), l["active_session"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(l["user_info_list"], json!([ua]));
    assert_eq!(l["db_info_list"], json!([d1, d2]));
    assert_eq!(l["state_info_list"], json!(["User sleep"]));
    assert_eq!(l["command_info_list"], json!(["Query", "Sleep"]));
    assert_eq!(
        l["summary"],
        json!([{"key": "Sleep", "value": 2}, {"key": "Query", "value": 1}])
    );
    assert_eq!(
        l["user_stats"],
        json!([{"key": ua, "value": ua, "active_count": 1, "total_count": 3}])
    );
    assert_eq!(
        l["db_stats"],
        json!([{"key": d1, "value": d1, "active_count": 1, "total_count": 2},
               {"key": d2, "value": d2, "active_count": 0, "total_count": 1}])
    );
    let tcp = address(r["host"].as_str().unwrap()).to_owned();
    assert_eq!(l["host_info_list"], json!([tcp]));
    assert_eq!(
        l["host_stats"],
        json!([{"key": tcp, "value": tcp, "active_count": 1, "total_count": 3}])
    );
    assert_eq!(l["session_exec_time"], exec_time_buckets(&[running]));
    assert_eq!(l["show_version_support_message"], false);
    assert_eq!(l["show_warn_message"], false);
    // show_all changes the rows, not the statistics.
    let all = ops.list(&format!("user={ua}&show_all=true")).await;
    assert_eq!(ids(&all), [a1.id, a2.id, a3.id]);
    assert_eq!(all["total"], 3);
    for same in [
        "idle_session",
        "active_session",
        "user_stats",
        "db_stats",
        "summary",
    ] {
        assert_eq!(all[same], l[same], "{same}");
    }

    // Each filter alone, then together.
    let both = ops.list(&format!("db={d1}&show_all=True")).await;
    assert_eq!(ids(&both), [a1.id, a3.id, b1.id, b2.id]);
    assert_eq!(both["user_info_list"], json!([ua, ub]));
    assert_eq!(both["db_info_list"], json!([d1]));
    assert_eq!(
        both["user_stats"],
        json!([{"key": ua, "value": ua, "active_count": 1, "total_count": 2},
               {"key": ub, "value": ub, "active_count": 1, "total_count": 2}])
    );
    assert_eq!(ids(&ops.list(&format!("db={d1}")).await), [a3.id, b2.id]);
    assert_eq!(
        ids(&ops.list(&format!("db=--&user={ub}&show_all=true")).await),
        [b3.id]
    );
    assert_eq!(
        ids(&ops
            .list(&format!("command=sleep&user={ua}&show_all=true"))
            .await),
        [a1.id, a2.id]
    );
    assert_eq!(
        ids(&ops.list(&format!("command=QUERY&db={d1}")).await),
        [a3.id, b2.id]
    );
    assert_eq!(ids(&ops.list("keywords=MARKA3").await), [a3.id]);
    assert_eq!(
        ids(&ops.list(&format!("keywords=mark&db={d1}")).await),
        [a3.id, b2.id]
    );
    assert_eq!(
        ids(&ops.list(&format!("state=User%20sleep&db={d1}")).await),
        [a3.id, b2.id]
    );
    assert_eq!(
        ids(&ops.list(&format!("state=User&db={d1}")).await),
        [] as [u64; 0]
    );
    let hosts = ops.list(&format!("user={ua}&show_all=true")).await;
    let a1_host = row(&hosts, a1.id)["host"].as_str().unwrap().to_owned();
    assert_eq!(
        ids(&ops.list(&format!("host={a1_host}&show_all=true")).await),
        [a1.id],
        "the whole host"
    );
    assert_eq!(
        ids(&ops
            .list(&format!("host={tcp}&user={ua}&show_all=true"))
            .await),
        [a1.id, a2.id, a3.id],
        "the address"
    );
    let ub_all = ops.list(&format!("user={ub}&show_all=true")).await;
    let b3_host = row(&ub_all, b3.id)["host"].as_str().unwrap().to_owned();
    let mut ub_hosts = vec![tcp.clone(), b3_host.clone()];
    ub_hosts.sort();
    ub_hosts.dedup();
    assert_eq!(ub_all["host_info_list"], json!(ub_hosts));
    let by_socket = ops
        .list(&format!("host={b3_host}&user={ub}&show_all=true&db=--"))
        .await;
    assert_eq!(ids(&by_socket), [b3.id]);
    assert_eq!(
        ids(&ops
            .list(&format!("user={ua}&db={d1}&command=Sleep&show_all=true"))
            .await),
        [a1.id]
    );
    assert_eq!(
        ops.list(&format!("user={ua}&db={d2}&command=Query")).await["total"],
        0
    );

    // Pages and orders.
    let page = |n: u32| format!("user={ua}&show_all=true&per_page=2&cur_page={n}");
    assert_eq!(ids(&ops.list(&page(1)).await), [a1.id, a2.id]);
    assert_eq!(ids(&ops.list(&page(2)).await), [a3.id]);
    let past = ops.list(&page(3)).await;
    assert_eq!((ids(&past), past["total"].clone()), (vec![], json!(3)));
    assert_eq!(
        ids(&ops
            .list(&format!("user={ua}&show_all=true&order_by=id&order=desc"))
            .await),
        [a3.id, a2.id, a1.id]
    );
    assert_eq!(
        ids(&ops
            .list(&format!("user={ua}&show_all=true&order_by=db"))
            .await),
        [a1.id, a3.id, a2.id]
    );
    assert_eq!(
        ids(&ops
            .list(&format!("db={d1}&show_all=true&order_by=user&order=desc"))
            .await),
        [b1.id, b2.id, a1.id, a3.id],
        "ties by ascending id"
    );
    let by_time = ops
        .list(&format!("db={d1}&show_all=true&order_by=time&order=desc"))
        .await;
    let times: Vec<u64> = by_time["process_info_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(time_of)
        .collect();
    assert_eq!(times.len(), 4);
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");

    // time: sessions at least that long in their state. a1 is idle and untouched, so its time
    // only grows; a fresh session stays below 3 s for the next request.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let l = ops.list(&format!("user={ua}&show_all=true")).await;
        if time_of(row(&l, a1.id)) >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "a1 never idled 3 s: {l}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let fresh = idle_victim(&db, &ua, Some(&d2), Via::Tcp, "fresh").await;
    let slow = ops.list(&format!("user={ua}&show_all=true&time=3")).await;
    let slow_ids = ids(&slow);
    assert!(slow_ids.contains(&a1.id), "{slow}");
    assert!(!slow_ids.contains(&fresh.id), "{slow}");
    assert!(
        slow["process_info_list"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| time_of(r) >= 3),
        "{slow}"
    );
    assert_eq!(
        ids(&ops.list(&format!("user={ua}&show_all=true&time=0")).await),
        [a1.id, a2.id, a3.id, fresh.id]
    );

    // hide_sys: the event scheduler (a Daemon: not idle) only when asked for.
    let hidden = ops.list("user=event_scheduler&show_all=true").await;
    assert_eq!(hidden["total"], 0, "{hidden}");
    let shown = ops.list("user=event_scheduler&hide_sys=false").await;
    assert_eq!(shown["total"], 1, "{shown}");
    assert_eq!(shown["process_info_list"][0]["command"], "Daemon");
    assert_eq!(
        (
            shown["idle_session"].clone(),
            shown["active_session"].clone()
        ),
        (json!(0), json!(1))
    );
    let everything = ops.list("hide_sys=FALSE&show_all=true&per_page=100").await;
    let unhidden = ops.list("show_all=true&per_page=100").await;
    let users = |l: &Value| l["user_info_list"].as_array().unwrap().clone();
    assert!(
        users(&everything).contains(&json!("event_scheduler")),
        "{everything}"
    );
    assert!(
        !users(&unhidden).contains(&json!("event_scheduler")),
        "{unhidden}"
    );
    assert!(
        !unhidden["command_info_list"]
            .as_array()
            .unwrap()
            .contains(&json!("Daemon"))
    );

    // Bad query values: 400 with their codes, never a 500.
    for (query, code) in [
        ("cur_page=0", "DAS.200103"),
        ("cur_page=x", "DAS.200103"),
        ("cur_page=2147483648", "DAS.200103"),
        ("per_page=0", "DAS.200104"),
        ("per_page=101", "DAS.200104"),
        ("show_all=yes", "DAS.200100"),
        ("hide_sys=0", "DAS.200100"),
        ("time=-1", "DAS.200100"),
        ("time=x", "DAS.200100"),
        ("order_by=sql", "DAS.200100"),
        ("order=up", "DAS.200100"),
        ("user=a&user=b", "DAS.200100"),
    ] {
        let r = ops.list_as(&app.admin_token, query).await;
        assert_das_error(&r, 400, code);
    }
    // Accepted and ignored.
    let ignored = ops
        .list(&format!(
            "user={ua}&node_id=x&node_role=master&show_no_pid=true"
        ))
        .await;
    assert_eq!(ids(&ignored), [a3.id]);

    // Viewers and operators list; a caller without a role on the project does not.
    for role in ["viewer", "operator"] {
        let token = app.user_with_role(&ctx.project, role).await;
        let r = ops.list_as(&token, &format!("user={ua}")).await;
        assert_eq!(r.status.as_u16(), 200, "{role}: {}", r.text);
        assert_eq!(ids(&r.body), [a3.id]);
    }
    let elsewhere = app.create_project(&unique_name("p")).await;
    let outsider = app.user_with_role(&elsewhere, "operator").await;
    assert_das_error(&ops.list_as(&outsider, "").await, 403, "APIGW.0302");

    // An instance without a db user has nobody to list as.
    let bare = app
        .create_instance(
            &ctx.project,
            json!({"name": "bare", "datastore_type": "mariadb", "host": db.host(), "port": db.port()}),
        )
        .await;
    let r = PgOps::new(&app, &ctx.project, &bare)
        .list_as(&app.admin_token, "")
        .await;
    assert_das_error(&r, 400, "DAS.200112");
    end_all(&db, [&a1, &a2, &a3, &b1, &b2, &b3, &fresh]).await;
}
