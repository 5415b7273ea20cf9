//! Rule matching: each condition alone, combinations, protections, and properties of a tick over
//! random sessions and rules (the preview is exactly what the next tick kills).

use std::collections::HashSet;

use proptest::prelude::*;

use super::*;

fn session(id: u64, user: &str, host: &str, db: Option<&str>, command: &str, time: i64) -> Session {
    Session {
        id: SessionId(id),
        user: user.into(),
        host: host.into(),
        database: db.map(Into::into),
        command: command.into(),
        time,
        state: String::new(),
        sql: None,
        trx_seconds: 0,
        foreground: None,
        started: None,
    }
}

fn when(time: i64) -> RuleConditions {
    RuleConditions {
        time,
        ..RuleConditions::default()
    }
}

#[test]
fn each_condition_alone() {
    let mut s = session(7, "app", "100.1.2.3:5121", Some("shop"), "Query", 12);
    s.sql = Some("SELECT * FROM Orders".into());
    s.state = "Sending data".into();
    s.trx_seconds = 30;
    let yes = |c: RuleConditions| assert!(rule_matches(&s, &c), "{c:?}");
    let no = |c: RuleConditions| assert!(!rule_matches(&s, &c), "{c:?}");
    yes(when(12));
    no(when(13));
    yes(RuleConditions {
        user: Some("app".into()),
        ..when(1)
    });
    no(RuleConditions {
        user: Some("App".into()),
        ..when(1)
    });
    yes(RuleConditions {
        host: Some("100.%".into()),
        ..when(1)
    });
    yes(RuleConditions {
        host: Some("100.1.2._".into()),
        ..when(1)
    });
    no(RuleConditions {
        host: Some("100.1.2.3:5121".into()),
        ..when(1)
    });
    yes(RuleConditions {
        db: Some("shop".into()),
        ..when(1)
    });
    no(RuleConditions {
        db: Some("sho".into()),
        ..when(1)
    });
    yes(RuleConditions {
        command: Some("query".into()),
        ..when(1)
    });
    no(RuleConditions {
        command: Some("Sleep".into()),
        ..when(1)
    });
    yes(RuleConditions {
        info: Some("from orders".into()),
        ..when(1)
    });
    no(RuleConditions {
        info: Some("update".into()),
        ..when(1)
    });
    yes(RuleConditions {
        state: Some("SENDING".into()),
        ..when(1)
    });
    no(RuleConditions {
        state: Some("locked".into()),
        ..when(1)
    });
    yes(RuleConditions {
        min_trx_time: Some(30),
        ..when(1)
    });
    no(RuleConditions {
        min_trx_time: Some(31),
        ..when(1)
    });
}

#[test]
fn conditions_are_anded() {
    let s = session(7, "app", "10.0.0.5:1", Some("shop"), "Sleep", 5);
    let both = RuleConditions {
        user: Some("app".into()),
        db: Some("shop".into()),
        ..when(5)
    };
    assert!(rule_matches(&s, &both));
    let one_wrong = RuleConditions {
        db: Some("other".into()),
        ..both.clone()
    };
    assert!(!rule_matches(&s, &one_wrong));
    // An idle session has no SQL text: an `info` condition never matches it.
    let info = RuleConditions {
        info: Some("".into()),
        ..when(1)
    };
    assert!(!rule_matches(&s, &info));
}

#[test]
fn no_rule_kills_a_protected_session() {
    let sessions = vec![
        session(1, "event_scheduler", "localhost", None, "Daemon", 99),
        session(2, "system user", "", None, "Slave_SQL", 99),
        session(3, "dbkill", "10.0.0.1:1", None, "Sleep", 99),
        session(4, "root", "10.0.0.1:2", None, "Sleep", 99),
        session(5, "app", "10.0.0.1:3", None, "Killed", 99),
        session(6, "app", "10.0.0.1:4", None, "Sleep", 99),
    ];
    let p = Protections {
        own_ids: [SessionId(3)].into(),
        protected_users: vec!["root".into()],
    };
    let victims = rule_victims(&sessions, &when(1), &p);
    assert_eq!(victims.iter().map(|s| s.id.0).collect::<Vec<_>>(), [6]);
}

fn tick_rule(task_id: i64, c: &RuleConditions) -> TickRule<'_> {
    TickRule {
        task_id,
        conditions: c,
        kill_type: KillType::Connection,
        observe: false,
        pause_above: 0,
        budget: None,
    }
}

#[test]
fn pause_observe_and_budget() {
    let sessions: Vec<Session> = (1..=5)
        .map(|i| session(i, "app", "h:1", None, "Sleep", i as i64 * 10))
        .collect();
    let any = when(1);
    let p = Protections::default();
    let paused = TickRule {
        pause_above: 4,
        ..tick_rule(1, &any)
    };
    let observing = TickRule {
        observe: true,
        ..tick_rule(2, &any)
    };
    let budgeted = TickRule {
        budget: Some(2),
        ..tick_rule(3, &any)
    };
    let out = plan_tick(&sessions, &[paused, observing, budgeted], &p);
    assert!(out[0].paused && out[0].kill.is_empty() && out[0].matched.len() == 5);
    assert!(!out[1].paused && out[1].kill.is_empty() && out[1].matched.len() == 5);
    // The two that ran longest, newest first.
    let kept: Vec<u64> = out[2].kill.iter().map(|s| s.id.0).collect();
    assert_eq!(kept, [5, 4]);
    let at_limit = TickRule {
        pause_above: 5,
        ..tick_rule(4, &any)
    };
    assert!(!plan_tick(&sessions, &[at_limit], &p)[0].paused);
}

fn arb_session() -> impl Strategy<Value = Session> {
    (
        0u64..40,
        prop::sample::select(vec!["app", "bi", "root", "system user", "dbkill"]),
        prop::sample::select(vec!["10.0.0.5:1", "10.1.0.5:2", "localhost", "100.2.3.4:9"]),
        prop::option::of(prop::sample::select(vec!["shop", "crm"])),
        prop::sample::select(vec!["Sleep", "Query", "Killed", "Daemon"]),
        0i64..20,
        0i64..20,
    )
        .prop_map(|(id, user, host, db, command, time, trx)| {
            let mut s = session(id, user, host, db, command, time);
            s.trx_seconds = trx;
            if command == "Query" {
                s.sql = Some("select sleep(60)".into());
            }
            s
        })
}

fn arb_conditions() -> impl Strategy<Value = RuleConditions> {
    (
        prop::option::of(prop::sample::select(vec!["app", "bi", "root"])),
        prop::option::of(prop::sample::select(vec!["10.%", "100._.3.4", "local%"])),
        prop::option::of(prop::sample::select(vec!["shop", "crm"])),
        prop::option::of(prop::sample::select(vec!["sleep", "QUERY"])),
        prop::option::of(prop::sample::select(vec!["SLEEP", "update"])),
        1i64..15,
        prop::option::of(0i64..15),
    )
        .prop_map(
            |(user, host, db, command, info, time, trx)| RuleConditions {
                user: user.map(Into::into),
                host: host.map(Into::into),
                db: db.map(Into::into),
                command: command.map(Into::into),
                info: info.map(Into::into),
                state: None,
                time,
                min_trx_time: trx,
            },
        )
}

proptest! {
    #[test]
    fn preview_is_what_the_next_tick_kills(
        sessions in prop::collection::vec(arb_session(), 0..30),
        c in arb_conditions(),
    ) {
        let p = Protections { own_ids: [SessionId(3)].into(), protected_users: vec!["root".into()] };
        let preview = rule_victims(&sessions, &c, &p);
        let tick = plan_tick(&sessions, &[tick_rule(1, &c)], &p);
        prop_assert_eq!(&tick[0].kill, &preview);
    }

    #[test]
    fn a_tick_kills_each_session_once_only_matches_and_never_a_protected_one(
        sessions in prop::collection::vec(arb_session(), 0..30),
        rules in prop::collection::vec((arb_conditions(), any::<bool>(), 0usize..4, prop::option::of(0usize..4)), 0..5),
    ) {
        let p = Protections { own_ids: [SessionId(3)].into(), protected_users: vec!["root".into()] };
        let ticks: Vec<TickRule<'_>> = rules.iter().enumerate().map(|(i, (c, observe, pause_above, budget))| TickRule {
            task_id: i as i64 + 1, conditions: c, kill_type: KillType::Connection,
            observe: *observe, pause_above: *pause_above, budget: *budget,
        }).collect();
        let out = plan_tick(&sessions, &ticks, &p);
        let mut killed = HashSet::new();
        for (decision, rule) in out.iter().zip(&ticks) {
            if decision.paused || rule.observe { prop_assert!(decision.kill.is_empty()); }
            if let Some(b) = rule.budget { prop_assert!(decision.kill.len() <= b); }
            prop_assert_eq!(decision.paused, rule.pause_above > 0 && decision.matched.len() > rule.pause_above);
            for s in &decision.kill {
                prop_assert!(killed.insert(s.id), "killed twice: {:?}", s.id);
                prop_assert!(rule_matches(s, rule.conditions));
                prop_assert!(protection_of(s, &p).is_none());
                prop_assert!(decision.matched.contains(&s.id));
            }
        }
    }
}
