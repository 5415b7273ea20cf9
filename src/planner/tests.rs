//! Planner tests: hand-picked cases, then properties over random session lists and filters.

use std::collections::HashSet;

use proptest::prelude::*;

use super::*;

fn session(id: u64, user: &str, db: Option<&str>, command: &str) -> Session {
    Session {
        id: SessionId(id),
        user: user.into(),
        host: "10.0.0.5:5000".into(),
        database: db.map(Into::into),
        command: command.into(),
        time: 1,
        state: String::new(),
        sql: None,
        trx_seconds: 0,
        foreground: None,
        started: None,
    }
}

fn ids(v: &[Session]) -> Vec<u64> {
    v.iter().map(|s| s.id.0).collect()
}

fn sample() -> Vec<Session> {
    vec![
        session(1, "event_scheduler", None, "Daemon"),
        session(2, "system user", None, "Slave_SQL"),
        session(3, "repl", None, "Binlog Dump"),
        session(10, "aaa", Some("example"), "Sleep"),
        session(11, "aaa", Some("other"), "Query"),
        session(12, "bbb", Some("example"), "Sleep"),
        session(13, "bbb", None, "Sleep"),
        session(14, "dbkill", None, "Sleep"),
        session(15, "root", Some("example"), "Sleep"),
        session(16, "aaa", Some("example"), "Killed"),
        session(17, "unauthenticated user", None, "Connect"),
    ]
}

fn protections() -> Protections {
    Protections {
        own_ids: [SessionId(14)].into(),
        protected_users: vec!["root".into()],
    }
}

#[test]
fn user_filter_kills_only_that_user_and_reports_protections() {
    let f = KillFilter {
        user: Some("aaa".into()),
        ..Default::default()
    };
    let p = plan(&sample(), &f, &protections());
    assert_eq!(ids(&p.kill), vec![11, 10], "newest first");
    assert_eq!(p.skipped.len(), 1);
    assert_eq!(
        (p.skipped[0].0.id.0, p.skipped[0].1),
        (16, SkipReason::AlreadyKilled)
    );
    assert!(p.not_found.is_empty());
}

#[test]
fn filters_are_anded() {
    let f = KillFilter {
        user: Some("aaa".into()),
        database: Some("example".into()),
        ..Default::default()
    };
    assert_eq!(ids(&plan(&sample(), &f, &protections()).kill), vec![10]);
    let f = KillFilter {
        process_ids: Some(vec![SessionId(10), SessionId(12), SessionId(999)]),
        database: Some("example".into()),
        user: Some("bbb".into()),
    };
    let p = plan(&sample(), &f, &protections());
    assert_eq!(ids(&p.kill), vec![12]);
    assert_eq!(
        p.skipped,
        vec![(sample()[3].clone(), SkipReason::NotMatched)]
    );
    assert_eq!(p.not_found, vec![SessionId(999)]);
}

#[test]
fn listed_protected_sessions_are_never_killed() {
    let all: Vec<SessionId> = sample().iter().map(|s| s.id).collect();
    let f = KillFilter {
        process_ids: Some(all),
        ..Default::default()
    };
    let p = plan(&sample(), &f, &protections());
    assert_eq!(ids(&p.kill), vec![13, 12, 11, 10]);
    let reasons: Vec<(u64, SkipReason)> = p.skipped.iter().map(|(s, r)| (s.id.0, *r)).collect();
    assert_eq!(
        reasons,
        vec![
            (1, SkipReason::SystemThread),
            (2, SkipReason::SystemThread),
            (3, SkipReason::SystemThread),
            (14, SkipReason::OwnConnection),
            (15, SkipReason::ProtectedUser),
            (16, SkipReason::AlreadyKilled),
            (17, SkipReason::SystemThread),
        ]
    );
}

#[test]
fn own_connection_wins_even_when_named_by_user() {
    let f = KillFilter {
        user: Some("dbkill".into()),
        ..Default::default()
    };
    let p = plan(&sample(), &f, &protections());
    assert!(p.kill.is_empty());
    assert_eq!(p.skipped[0].1, SkipReason::OwnConnection);
}

#[test]
fn background_threads_reported_by_mysql_are_system_threads() {
    let mut s = session(5, "app", None, "Sleep");
    s.foreground = Some(false);
    assert_eq!(
        protection_of(&s, &Protections::default()),
        Some(SkipReason::SystemThread)
    );
    s.foreground = Some(true);
    assert_eq!(protection_of(&s, &Protections::default()), None);
}

#[test]
fn duplicate_ids_are_planned_once() {
    let f = KillFilter {
        process_ids: Some(vec![SessionId(10), SessionId(10)]),
        ..Default::default()
    };
    let mut sessions = sample();
    sessions.push(sample()[3].clone());
    let p = plan(&sessions, &f, &protections());
    assert_eq!(ids(&p.kill), vec![10]);
}

#[test]
fn kill_user_is_used_only_when_exactly_equivalent() {
    let by_user = |u: &str| KillFilter {
        user: Some(u.into()),
        ..Default::default()
    };
    // bbb's sessions are all killable.
    let f = by_user("bbb");
    let p = plan(&sample(), &f, &protections());
    assert_eq!(kill_user_equivalent(&p, &f), Some("bbb"));
    // aaa has an already-killed session: KILL USER would touch it too.
    let f = by_user("aaa");
    assert_eq!(
        kill_user_equivalent(&plan(&sample(), &f, &protections()), &f),
        None
    );
    // dbkill's own account, protected users, system users: never.
    for u in ["dbkill", "root", "event_scheduler", "nobody"] {
        let f = by_user(u);
        assert_eq!(
            kill_user_equivalent(&plan(&sample(), &f, &protections()), &f),
            None,
            "{u}"
        );
    }
    // Any other filter rules it out.
    let f = KillFilter {
        user: Some("bbb".into()),
        database: Some("example".into()),
        ..Default::default()
    };
    assert_eq!(
        kill_user_equivalent(&plan(&sample(), &f, &protections()), &f),
        None
    );
}

const USERS: [&str; 7] = [
    "aaa",
    "bbb",
    "root",
    "system user",
    "event_scheduler",
    "unauthenticated user",
    "repl",
];
const DBS: [Option<&str>; 3] = [None, Some("example"), Some("other")];
const COMMANDS: [&str; 8] = [
    "Sleep",
    "Query",
    "Daemon",
    "Binlog Dump",
    "Slave_IO",
    "Killed",
    "Connect",
    "Execute",
];

fn arb_session() -> impl Strategy<Value = Session> {
    (
        0u64..40,
        0..USERS.len(),
        0..DBS.len(),
        0..COMMANDS.len(),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(|(id, u, d, c, fg)| {
            let mut s = session(id, USERS[u], DBS[d], COMMANDS[c]);
            s.foreground = fg;
            s
        })
}

fn arb_filter() -> impl Strategy<Value = KillFilter> {
    (
        proptest::option::of(proptest::collection::vec(0u64..45, 1..8)),
        proptest::option::of(0..USERS.len()),
        proptest::option::of(0..DBS.len()),
    )
        .prop_map(|(pids, u, d)| KillFilter {
            process_ids: pids.map(|v| v.into_iter().map(SessionId).collect()),
            user: u.map(|i| USERS[i].to_owned()),
            database: d.and_then(|i| DBS[i].map(str::to_owned)),
        })
}

/// The reference predicate, written as plainly as possible.
fn reference_is_killed(s: &Session, f: &KillFilter, p: &Protections) -> bool {
    let id_ok = match &f.process_ids {
        Some(ids) => ids.contains(&s.id),
        None => true,
    };
    let user_ok = match &f.user {
        Some(u) => &s.user == u,
        None => true,
    };
    let db_ok = match &f.database {
        Some(d) => s.database.as_deref() == Some(d.as_str()),
        None => true,
    };
    let real_user =
        !["system user", "event_scheduler", "unauthenticated user"].contains(&s.user.as_str());
    let client_command = ["Sleep", "Query", "Execute"].contains(&s.command.as_str());
    let protected = p.own_ids.contains(&s.id)
        || !real_user
        || !client_command
        || s.foreground == Some(false)
        || p.protected_users.contains(&s.user);
    id_ok && user_ok && db_ok && !protected
}

fn dedup(sessions: Vec<Session>) -> Vec<Session> {
    let mut seen = HashSet::new();
    sessions.into_iter().filter(|s| seen.insert(s.id)).collect()
}

proptest! {
    #[test]
    fn plan_equals_the_reference_predicate(
        sessions in proptest::collection::vec(arb_session(), 0..30).prop_map(dedup),
        filter in arb_filter(),
        own in proptest::collection::hash_set(0u64..40, 0..4),
        protect_root in any::<bool>(),
    ) {
        let p = Protections {
            own_ids: own.into_iter().map(SessionId).collect(),
            protected_users: if protect_root { vec!["root".into()] } else { vec![] },
        };
        let got = plan(&sessions, &filter, &p);
        let mut want: Vec<u64> = sessions.iter().filter(|s| reference_is_killed(s, &filter, &p)).map(|s| s.id.0).collect();
        want.sort_unstable_by(|a, b| b.cmp(a));
        prop_assert_eq!(ids(&got.kill), want);
        // The KILL USER shortcut is only taken when every session of that user is in the plan.
        if let Some(user) = kill_user_equivalent(&got, &filter) {
            let all_of_user: HashSet<u64> = sessions.iter().filter(|s| s.user == user).map(|s| s.id.0).collect();
            let planned: HashSet<u64> = got.kill.iter().map(|s| s.id.0).collect();
            prop_assert_eq!(all_of_user, planned);
        }
        for s in &got.kill {
            prop_assert!(protection_of(s, &p).is_none());
            prop_assert!(!p.own_ids.contains(&s.id));
        }
        // Every listed id is accounted for exactly once.
        if let Some(listed) = &filter.process_ids {
            let listed: HashSet<SessionId> = listed.iter().copied().collect();
            let mut accounted: Vec<SessionId> = got.kill.iter().map(|s| s.id).collect();
            accounted.extend(got.skipped.iter().map(|(s, _)| s.id));
            accounted.extend(got.not_found.iter().copied());
            let set: HashSet<SessionId> = accounted.iter().copied().collect();
            prop_assert_eq!(set.len(), accounted.len());
            prop_assert_eq!(set, listed);
        } else {
            prop_assert!(got.not_found.is_empty());
            prop_assert!(got.skipped.iter().all(|(_, r)| *r != SkipReason::NotMatched));
        }
    }
}
