//! The process list: each filter alone and together, idle and system sessions, order, pages
//! and every statistic on hand-made listings; then properties over random listings.

use proptest::prelude::*;

use super::*;
use crate::domain::SessionId;

#[allow(clippy::too_many_arguments)]
fn session(
    id: u64,
    user: &str,
    host: &str,
    db: Option<&str>,
    command: &str,
    time: i64,
    state: &str,
    sql: Option<&str>,
) -> Session {
    Session {
        id: SessionId(id),
        user: user.into(),
        host: host.into(),
        database: db.map(Into::into),
        command: command.into(),
        time,
        state: state.into(),
        sql: sql.map(Into::into),
        trx_seconds: 0,
        foreground: None,
        started: None,
    }
}

/// A MariaDB listing: the event scheduler, two accounts' idle and busy sessions, a socket
/// session, one already killed.
fn sample() -> Vec<Session> {
    vec![
        session(
            1,
            "event_scheduler",
            "localhost",
            None,
            "Daemon",
            900,
            "Waiting on empty queue",
            None,
        ),
        session(
            10,
            "app",
            "10.0.0.5:5000",
            Some("shop"),
            "Sleep",
            40,
            "",
            None,
        ),
        session(
            11,
            "app",
            "10.0.0.5:5001",
            Some("shop"),
            "Query",
            12,
            "User sleep",
            Some("SELECT SLEEP(60), 'Report'"),
        ),
        session(
            12,
            "app",
            "10.0.0.6:6000",
            Some("crm"),
            "Query",
            2,
            "Sending data",
            Some("select * from orders"),
        ),
        session(13, "bi", "10.0.0.7:7000", None, "Sleep", 5, "", None),
        session(
            14,
            "bi",
            "localhost",
            Some("shop"),
            "Query",
            0,
            "starting",
            Some("SELECT 1"),
        ),
        session(
            15,
            "app",
            "10.0.0.5:5002",
            Some("shop"),
            "Killed",
            3,
            "",
            Some("UPDATE t SET a = 1"),
        ),
    ]
}

fn list(q: ListQuery) -> ProcessList {
    process_list(sample(), &q)
}

fn ids(l: &ProcessList) -> Vec<u64> {
    l.page.iter().map(|s| s.id.0).collect()
}

fn all() -> ListQuery {
    ListQuery {
        show_all: true,
        per_page: 100,
        ..ListQuery::default()
    }
}

#[test]
fn by_default_idle_sessions_and_system_threads_are_hidden() {
    let l = list(ListQuery::default());
    assert_eq!(ids(&l), [11, 12, 14, 15]);
    assert_eq!(l.total, 4);
    let l = list(ListQuery {
        hide_sys: false,
        ..ListQuery::default()
    });
    assert_eq!(ids(&l), [1, 11, 12, 14, 15]);
    assert_eq!(ids(&list(all())), [10, 11, 12, 13, 14, 15]);
}

#[test]
fn each_filter_alone() {
    let one = |f: fn(&mut ListQuery)| {
        let mut q = all();
        f(&mut q);
        ids(&list(q))
    };
    assert_eq!(one(|q| q.user = Some("bi".into())), [13, 14]);
    assert_eq!(
        one(|q| q.user = Some("BI".into())),
        [] as [u64; 0],
        "users are exact"
    );
    assert_eq!(
        one(|q| q.host = Some("10.0.0.5".into())),
        [10, 11, 15],
        "the address"
    );
    assert_eq!(
        one(|q| q.host = Some("10.0.0.5:5001".into())),
        [11],
        "the whole host"
    );
    assert_eq!(one(|q| q.host = Some("localhost".into())), [14]);
    assert_eq!(
        one(|q| q.host = Some("10.0.0".into())),
        [] as [u64; 0],
        "no prefixes"
    );
    assert_eq!(one(|q| q.db = Some("shop".into())), [10, 11, 14, 15]);
    assert_eq!(one(|q| q.db = Some("--".into())), [13], "no database");
    assert_eq!(one(|q| q.state = Some("User sleep".into())), [11]);
    assert_eq!(
        one(|q| q.state = Some("User".into())),
        [] as [u64; 0],
        "states are exact"
    );
    assert_eq!(
        one(|q| q.command = Some("query".into())),
        [11, 12, 14],
        "any case"
    );
    assert_eq!(one(|q| q.command = Some("sleep".into())), [10, 13]);
    assert_eq!(
        one(|q| q.keywords = Some("REPORT".into())),
        [11],
        "any case"
    );
    assert_eq!(one(|q| q.keywords = Some("select".into())), [11, 12, 14]);
    assert_eq!(one(|q| q.min_time = Some(5)), [10, 11, 13]);
    assert_eq!(one(|q| q.min_time = Some(0)), [10, 11, 12, 13, 14, 15]);
}

#[test]
fn filters_are_anded() {
    let q = ListQuery {
        user: Some("app".into()),
        db: Some("shop".into()),
        command: Some("Query".into()),
        ..all()
    };
    assert_eq!(ids(&list(q)), [11]);
    let q = ListQuery {
        host: Some("10.0.0.5".into()),
        keywords: Some("update".into()),
        min_time: Some(3),
        ..all()
    };
    assert_eq!(ids(&list(q)), [15]);
    let q = ListQuery {
        user: Some("bi".into()),
        db: Some("crm".into()),
        ..all()
    };
    assert_eq!(list(q).total, 0);
}

#[test]
fn rows_are_ordered_by_any_column_ties_by_id() {
    let by = |order_by, descending| {
        ids(&list(ListQuery {
            order_by,
            descending,
            ..all()
        }))
    };
    assert_eq!(by(OrderBy::Id, true), [15, 14, 13, 12, 11, 10]);
    assert_eq!(by(OrderBy::Time, false), [14, 12, 15, 13, 11, 10]);
    assert_eq!(by(OrderBy::Time, true), [10, 11, 13, 15, 12, 14]);
    assert_eq!(by(OrderBy::User, false), [10, 11, 12, 15, 13, 14]);
    assert_eq!(
        by(OrderBy::User, true),
        [13, 14, 10, 11, 12, 15],
        "ties stay ascending"
    );
    assert_eq!(
        by(OrderBy::Db, false),
        [13, 12, 10, 11, 14, 15],
        "`--` sorts first"
    );
    assert_eq!(by(OrderBy::Host, false), [10, 11, 15, 12, 13, 14]);
    assert_eq!(by(OrderBy::Command, false), [15, 11, 12, 14, 10, 13]);
    assert_eq!(by(OrderBy::State, false), [10, 13, 15, 12, 11, 14]);
}

#[test]
fn pages_cut_the_ordered_rows_and_total_counts_them_all() {
    let page = |cur_page, per_page| {
        list(ListQuery {
            cur_page,
            per_page,
            ..all()
        })
    };
    assert_eq!(ids(&page(1, 4)), [10, 11, 12, 13]);
    assert_eq!(ids(&page(2, 4)), [14, 15]);
    assert_eq!(ids(&page(3, 4)), [] as [u64; 0]);
    assert_eq!(page(3, 4).total, 6);
    assert_eq!(ids(&page(u32::MAX, 100)), [] as [u64; 0], "no overflow");
}

#[test]
fn statistics_cover_the_scope_idle_sessions_included() {
    // The default query: rows hide the idle sessions, the statistics count them.
    let l = list(ListQuery::default());
    let s = &l.stats;
    assert_eq!((s.idle, s.active), (2, 4));
    assert_eq!(s.users, ["app", "bi"]);
    assert_eq!(s.dbs, ["--", "crm", "shop"]);
    assert_eq!(s.hosts, ["10.0.0.5", "10.0.0.6", "10.0.0.7", "localhost"]);
    assert_eq!(
        s.states,
        ["Sending data", "User sleep", "starting"],
        "no empty state"
    );
    assert_eq!(s.commands, ["Killed", "Query", "Sleep"]);
    assert_eq!(
        s.by_command,
        [
            ("Query".to_string(), 3),
            ("Sleep".into(), 2),
            ("Killed".into(), 1)
        ]
    );
    let group = |name: &str, active, total| GroupCount {
        name: name.into(),
        active,
        total,
    };
    assert_eq!(s.by_user, [group("app", 3, 4), group("bi", 1, 2)]);
    assert_eq!(
        s.by_host,
        [
            group("10.0.0.5", 2, 3),
            group("10.0.0.6", 1, 1),
            group("10.0.0.7", 0, 1),
            group("localhost", 1, 1)
        ]
    );
    assert_eq!(
        s.by_db,
        [group("shop", 3, 4), group("--", 0, 1), group("crm", 1, 1)]
    );
    // Active: 11 (12 s), 12 (2 s), 14 (0 s), 15 (3 s).
    assert_eq!(
        s.exec_time,
        ExecTimeBuckets {
            under_1s: 1,
            from_1s_to_3s: 1,
            from_3s_to_10s: 1,
            over_10s: 1
        }
    );
    // Without hide_sys the scheduler is in the scope, active (a Daemon is not idle).
    let l = list(ListQuery {
        hide_sys: false,
        ..ListQuery::default()
    });
    assert_eq!((l.stats.idle, l.stats.active), (2, 5));
    assert_eq!(l.stats.users, ["app", "bi", "event_scheduler"]);
    assert_eq!(l.stats.exec_time.over_10s, 2);
    // show_all changes the rows, not the statistics.
    assert_eq!(list(all()).stats, list(ListQuery::default()).stats);
}

#[test]
fn statistics_follow_the_filters() {
    let l = list(ListQuery {
        user: Some("bi".into()),
        ..ListQuery::default()
    });
    assert_eq!(ids(&l), [14]);
    assert_eq!((l.stats.idle, l.stats.active), (1, 1));
    assert_eq!(l.stats.users, ["bi"]);
    assert_eq!(l.stats.dbs, ["--", "shop"]);
}

#[test]
fn exec_time_buckets_have_whole_second_bounds() {
    let mut b = ExecTimeBuckets::default();
    for t in [-1, 0, 1, 2, 3, 10, 11, i64::MAX] {
        b.add(t);
    }
    assert_eq!(
        b,
        ExecTimeBuckets {
            under_1s: 2,
            from_1s_to_3s: 2,
            from_3s_to_10s: 2,
            over_10s: 2
        }
    );
}

/// A backend of a PostgreSQL listing: `client` is whether its `backend_type` is `client
/// backend` (`None`: the db user may not see it).
#[allow(clippy::too_many_arguments)]
fn backend(
    pid: u64,
    user: &str,
    host: &str,
    state: &str,
    time: i64,
    wait: &str,
    sql: Option<&str>,
    client: Option<bool>,
) -> Session {
    Session {
        foreground: client,
        started: Some(1_700_000_000_000_000 + pid as i64),
        ..session(pid, user, host, Some("shop"), state, time, wait, sql)
    }
}

#[test]
fn postgresql_states_are_commands_and_other_backends_system_threads() {
    let pg = vec![
        backend(
            100,
            "app",
            "10.0.0.5:5000",
            "idle",
            9,
            "Client:ClientRead",
            None,
            Some(true),
        ),
        backend(
            101,
            "app",
            "10.0.0.5:5001",
            "active",
            4,
            "Timeout:PgSleep",
            Some("select pg_sleep(60)"),
            Some(true),
        ),
        backend(
            102,
            "app",
            "local",
            "idle in transaction",
            2,
            "Client:ClientRead",
            Some("update t set a = 1"),
            Some(true),
        ),
        backend(
            103,
            "bi",
            "local",
            "idle in transaction (aborted)",
            1,
            "Client:ClientRead",
            Some("select 1/0"),
            Some(true),
        ),
        // The autovacuum launcher: no role, no state.
        backend(
            104,
            "",
            "",
            "",
            0,
            "Activity:AutoVacuumMain",
            None,
            Some(false),
        ),
        // A walsender is `active` like a busy client, but it is none.
        backend(
            105,
            "postgres",
            "10.0.0.9:6000",
            "active",
            30,
            "",
            None,
            Some(false),
        ),
        // Another role's backend the db user may not see in full.
        backend(106, "ops", "", "", 0, "", None, None),
    ];
    // DAS's defaults: only the idle client is left out of the rows.
    let l = process_list(pg.clone(), &ListQuery::default());
    assert_eq!(ids(&l), [101, 102, 103], "idle in transaction is shown");
    assert_eq!((l.stats.idle, l.stats.active), (1, 3));
    assert_eq!(l.stats.users, ["app", "bi"]);
    assert_eq!(l.stats.hosts, ["10.0.0.5", "local"]);
    assert_eq!(
        l.stats.commands,
        [
            "active",
            "idle",
            "idle in transaction",
            "idle in transaction (aborted)"
        ]
    );
    assert_eq!(l.stats.states, ["Client:ClientRead", "Timeout:PgSleep"]);
    let q = ListQuery {
        command: Some("IDLE IN TRANSACTION".into()),
        show_all: true,
        ..ListQuery::default()
    };
    assert_eq!(ids(&process_list(pg.clone(), &q)), [102], "the whole state");
    // hide_sys=false: every backend; the walsender counts as active.
    let q = ListQuery {
        hide_sys: false,
        show_all: true,
        ..ListQuery::default()
    };
    let l = process_list(pg, &q);
    assert_eq!(ids(&l), [100, 101, 102, 103, 104, 105, 106]);
    assert_eq!((l.stats.idle, l.stats.active), (1, 6));
    assert_eq!(l.stats.users, ["app", "bi", "ops", "postgres"]);
}

#[test]
fn order_names_parse_ignoring_case() {
    for (i, name) in OrderBy::NAMES.iter().enumerate() {
        let parsed = OrderBy::parse(&name.to_uppercase()).unwrap();
        assert_eq!(OrderBy::NAMES[i], *name);
        assert_eq!(OrderBy::parse(name), Some(parsed));
    }
    assert_eq!(OrderBy::parse("time"), Some(OrderBy::Time));
    assert_eq!(OrderBy::parse("sql"), None);
    assert_eq!(OrderBy::parse(""), None);
}

fn arb_session() -> impl Strategy<Value = Session> {
    (
        0u64..40,
        prop::sample::select(vec!["app", "bi", "event_scheduler"]),
        prop::sample::select(vec!["10.0.0.5:1", "10.0.0.6:2", "localhost"]),
        prop::option::of(prop::sample::select(vec!["shop", "crm"])),
        prop::sample::select(vec![
            "Sleep",
            "Query",
            "Daemon",
            "idle",
            "active",
            "idle in transaction",
            "",
        ]),
        0i64..20,
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(id, user, host, db, command, time, foreground)| Session {
            foreground,
            ..session(id, user, host, db, command, time, "", None)
        })
}

fn arb_query() -> impl Strategy<Value = ListQuery> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::option::of(prop::sample::select(vec!["app", "bi"])),
        prop::option::of(0i64..20),
        prop::sample::select(OrderBy::NAMES.to_vec()),
        any::<bool>(),
        1u32..5,
    )
        .prop_map(
            |(show_all, hide_sys, user, min_time, order_by, descending, per_page)| ListQuery {
                show_all,
                hide_sys,
                user: user.map(Into::into),
                min_time,
                order_by: OrderBy::parse(order_by).unwrap(),
                descending,
                per_page,
                ..ListQuery::default()
            },
        )
}

proptest! {
    #[test]
    fn pages_together_are_the_rows_and_the_counts_agree(
        sessions in prop::collection::vec(arb_session(), 0..30),
        q in arb_query(),
    ) {
        let first = process_list(sessions.clone(), &q);
        let mut rows = Vec::new();
        for cur_page in 1.. {
            let page = process_list(sessions.clone(), &ListQuery { cur_page, ..q.clone() });
            prop_assert!(page.page.len() <= q.per_page as usize);
            prop_assert_eq!(page.total, first.total);
            if page.page.is_empty() {
                break;
            }
            rows.extend(page.page);
        }
        prop_assert_eq!(rows.len(), first.total);
        let every = process_list(sessions.clone(), &ListQuery { per_page: u32::MAX, ..q.clone() });
        prop_assert_eq!(&rows, &every.page);
        for pair in rows.windows(2) {
            let o = q.order_by.compare(&pair[0], &pair[1]);
            let o = if q.descending { o.reverse() } else { o };
            prop_assert!(o.then(pair[0].id.cmp(&pair[1].id)) != Ordering::Greater);
        }
        let s = &first.stats;
        prop_assert_eq!(s.idle + s.active, s.by_user.iter().map(|g| g.total).sum::<usize>());
        prop_assert_eq!(s.active, s.by_db.iter().map(|g| g.active).sum::<usize>());
        let e = s.exec_time;
        prop_assert_eq!(s.active, e.under_1s + e.from_1s_to_3s + e.from_3s_to_10s + e.over_10s);
        let shown = if q.show_all { s.idle + s.active } else { s.active };
        prop_assert_eq!(first.total, shown);
        prop_assert!(rows.iter().all(|r| q.show_all || !r.is_idle()));
        prop_assert!(rows.iter().all(|r| !q.hide_sys || !is_system_thread(r)));
    }
}
