//! Kill rules when the target fails: a server frozen with SIGSTOP (it accepts TCP but answers
//! nothing) or stopped outright. A tick that cannot list kills nothing and is counted in
//! `dbkill_rule_tick_failures_total`; once the server answers, the next ticks kill again; and a
//! tick held up for many intervals is not followed by a burst of the ticks it missed. Each test
//! has its own server: a frozen or stopped shared server would fail every other test.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::app::{TestApp, spawn_app_with};
use crate::helpers::fixtures::{idle, killer_ctx, new_victim, usable};
use crate::helpers::metrics::{samples, scrape};
use crate::helpers::rules::{Rules, rule};
use crate::helpers::sessions::gone_within;
use crate::support::mariadb::{MariaDb, MariaDbOptions, unique_name};

const KILLER_GRANTS: &str = "PROCESS, CONNECTION ADMIN";
const INTERVAL_MS: u64 = 250;
/// Short target timeouts, so that a tick against a frozen server fails within a few intervals.
const TARGET_TIMEOUT_MS: u64 = 800;
/// What the interface names as the reasons of a failed tick.
const FAILURE_REASONS: [&str; 5] = ["unreachable", "refused", "timeout", "stale", "store"];

fn server() -> MariaDb {
    MariaDb::start(MariaDbOptions {
        event_scheduler: false,
        ..MariaDbOptions::default()
    })
}

/// A service whose rules tick every [`INTERVAL_MS`] and whose connections and statements to a
/// target give up after `target_timeout_ms`.
async fn app(target_timeout_ms: u64) -> TestApp {
    spawn_app_with(|s| {
        s.rule_interval_ms = INTERVAL_MS;
        s.connect_timeout_ms = target_timeout_ms;
        s.statement_timeout_ms = target_timeout_ms;
    })
    .await
}

/// The longest a frozen-then-thawed server may take to see the rule kill again: the tick in
/// flight gives up (a connect and a statement timeout at worst), the next starts within an
/// interval, and a second of slack for the kill itself on a busy machine.
fn recovery() -> Duration {
    Duration::from_millis(2 * TARGET_TIMEOUT_MS + 2 * INTERVAL_MS + 1_000)
}

/// `mariadbd` stopped by SIGSTOP until this is dropped: TCP connects still complete in the
/// kernel, but no handshake, answer or KILL is processed, as with a server stuck in swap or a
/// paused VM. Dropping sends SIGCONT even when an assertion failed, so the server can be
/// stopped cleanly.
struct Frozen(u32);

impl Frozen {
    fn new(db: &MariaDb) -> Frozen {
        let pid = db.server_pid().expect("the server runs");
        assert!(signal(pid, "-STOP"), "SIGSTOP {pid}");
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal(self.0, "-CONT");
    }
}

fn signal(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .args([sig, &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Polls `probe` every 50 ms until it is `Some`, for at most `within`.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    within: Duration,
    mut probe: impl FnMut() -> F,
) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the instance has run `n` more ticks than now; panics after 5 s.
async fn more_ticks(rules: &Rules<'_>, n: f64) {
    let (start, _) = rules.tick_counts().await;
    eventually(Duration::from_secs(5), || async {
        (rules.tick_counts().await.0 >= start + n).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("the instance did not run {n} ticks in 5 s"));
}

/// Rule `task`'s history rows once there are any: its kill's outcome is recorded a moment after
/// the session has left the server. Panics if none is there within 3 s.
async fn recorded_kills(rules: &Rules<'_>, task: i64) -> Vec<Value> {
    eventually(Duration::from_secs(3), || async {
        let kills = rules.kills(task).await;
        (!kills.is_empty()).then_some(kills)
    })
    .await
    .expect("the rule's kill is in the history")
}

/// After a recovery the ticks succeed: over 1.5 s (6 intervals) they go on and none fails.
async fn assert_ticks_succeed(rules: &Rules<'_>) {
    let (ticks, failures) = rules.tick_counts().await;
    tokio::time::sleep(Duration::from_millis(6 * INTERVAL_MS)).await;
    let (ticks_after, failures_after) = rules.tick_counts().await;
    assert!(
        ticks_after >= ticks + 3.0,
        "ticks went from {ticks} to {ticks_after} in 1.5 s"
    );
    assert_eq!(
        failures_after, failures,
        "ticks against a server that answers failed"
    );
}

/// The failure reasons counted for `instance`, each checked against the interface's list.
async fn failure_reasons(app: &TestApp, instance: &str) -> Vec<String> {
    let text = scrape(app).await;
    let reasons: Vec<String> = samples(&text, "dbkill_rule_tick_failures_total")
        .into_iter()
        .filter(|s| s.labels.get("instance_id").map(String::as_str) == Some(instance))
        .filter(|s| s.value > 0.0)
        .map(|s| s.labels.get("reason").cloned().unwrap_or_default())
        .collect();
    for reason in &reasons {
        assert!(
            FAILURE_REASONS.contains(&reason.as_str()),
            "failure reason {reason:?} is not one of {FAILURE_REASONS:?}"
        );
    }
    reasons
}

#[tokio::test]
async fn a_frozen_server_fails_the_ticks_without_a_kill_and_the_rule_kills_once_it_answers() {
    let db = server();
    let app = app(TARGET_TIMEOUT_MS).await;
    let ctx = killer_ctx(&app, &db, KILLER_GRANTS, &[]).await;
    let rules = Rules::of(&app, &ctx);
    let victim = new_victim(&db, "frozen");
    let (mut conn, id) = idle(&db, &victim, None).await;
    // Added while the switch is OFF, so the rule cannot act before the server is frozen.
    let task = rules.add(rule(json!({"user": &victim}))).await;
    let (_, failures_before) = rules.tick_counts().await;

    let frozen = Frozen::new(&db);
    rules.switch_on().await;
    // Long enough for several ticks to give up; the victim matches all along (idle > 1 s).
    tokio::time::sleep(Duration::from_millis(4 * TARGET_TIMEOUT_MS)).await;
    let (_, failures) = rules.tick_counts().await;
    assert!(
        failures > failures_before,
        "no failed tick was counted while the server was frozen ({failures_before} → {failures})"
    );
    let reasons = failure_reasons(&app, &ctx.instance).await;
    eprintln!("frozen server: {failures} failed ticks, reasons {reasons:?}");
    let listed = rules.get(task).await;
    assert_eq!(listed["killed_total"], json!(0), "{listed}");
    assert_eq!(rules.kills(task).await, Vec::<Value>::new());

    drop(frozen);
    let took = gone_within(&db, id, recovery()).await.unwrap_or_else(|| {
        panic!(
            "the victim was not killed within {:?} of the server answering again",
            recovery()
        )
    });
    eprintln!("killed {took:?} after the server answered again");
    assert!(!usable(&mut conn).await, "the victim's connection works");
    let kills = recorded_kills(&rules, task).await;
    assert_eq!(kills.len(), 1, "{kills:?}");
    assert_eq!(kills[0]["session_id"], json!(id), "{kills:?}");
    assert_eq!(kills[0]["killed_source"], json!(format!("rule:{task}")));
    assert_eq!(
        rules.get_when(task, |r| r["killed_total"] == 1).await["killed_total"],
        json!(1)
    );
    assert_ticks_succeed(&rules).await;
}

#[tokio::test]
async fn a_stopped_server_fails_the_ticks_and_the_rule_kills_again_once_it_is_back() {
    let mut db = server();
    let app = app(TARGET_TIMEOUT_MS).await;
    let ctx = killer_ctx(&app, &db, KILLER_GRANTS, &[]).await;
    let rules = Rules::of(&app, &ctx);
    let victim = new_victim(&db, "stopped");
    let task = rules.add(rule(json!({"user": &victim}))).await;
    rules.switch_on().await;
    // The runner reads the instance (its lifeline is open) before the server goes away.
    more_ticks(&rules, 2.0).await;
    let (_, failures_before) = rules.tick_counts().await;

    db.stop();
    tokio::time::sleep(Duration::from_millis(8 * INTERVAL_MS)).await;
    let (_, failures) = rules.tick_counts().await;
    assert!(
        failures > failures_before,
        "no failed tick was counted while the server was down ({failures_before} → {failures})"
    );
    let reasons = failure_reasons(&app, &ctx.instance).await;
    eprintln!("stopped server: {failures} failed ticks, reasons {reasons:?}");

    db.restart();
    let (mut conn, id) = idle(&db, &victim, None).await;
    // The victim matches once idle for a second.
    let within = Duration::from_secs(1) + recovery();
    let took = gone_within(&db, id, within)
        .await
        .unwrap_or_else(|| panic!("a victim after the restart lived {within:?}"));
    eprintln!("a victim after the server's restart was killed {took:?} after it connected");
    assert!(!usable(&mut conn).await, "the victim's connection works");
    let kills = recorded_kills(&rules, task).await;
    assert_eq!(kills[0]["session_id"], json!(id), "{kills:?}");
    assert_ticks_succeed(&rules).await;
}

/// `dbkill_rule_ticks_total` of an instance, read some time between `sent` and `answered`.
struct Scrape {
    sent: Instant,
    answered: Instant,
    ticks: f64,
}

impl Scrape {
    async fn ticks(rules: &Rules<'_>) -> Scrape {
        let sent = Instant::now();
        let ticks = rules.tick_counts().await.0;
        Scrape {
            sent,
            answered: Instant::now(),
            ticks,
        }
    }
}

#[tokio::test]
async fn a_tick_held_up_by_a_frozen_server_is_not_followed_by_a_burst_of_ticks() {
    const FROZEN_INTERVALS: u64 = 8;
    let db = server();
    // Target timeouts far longer than the freeze: one tick waits out the whole freeze.
    let app = app(10_000).await;
    let ctx = killer_ctx(&app, &db, KILLER_GRANTS, &[]).await;
    let rules = Rules::of(&app, &ctx);
    // A rule that matches nothing still makes the runner read the instance every tick.
    rules
        .add(rule(json!({"user": unique_name("nobody")})))
        .await;
    rules.switch_on().await;
    more_ticks(&rules, 3.0).await;

    let mut seen: Vec<Scrape> = Vec::new();
    let frozen = Frozen::new(&db);
    let thaw_at = Instant::now() + Duration::from_millis(FROZEN_INTERVALS * INTERVAL_MS);
    while Instant::now() < thaw_at {
        seen.push(Scrape::ticks(&rules).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(frozen);
    let thawed = Instant::now();
    let ticks_at_thaw = rules.tick_counts().await.0;
    while thawed.elapsed() < Duration::from_secs(2) {
        seen.push(Scrape::ticks(&rules).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Sampled every ~20 ms: no span of one interval, during the freeze or after it, ran more
    // than 2 ticks (one ending, the next starting at once and ending). Missed ticks fired in a
    // burst would. A span starts when one scrape was sent and ends when a later one was
    // answered, so the counter was read within it however slow the scrapes were.
    let interval = Duration::from_millis(INTERVAL_MS);
    for (i, a) in seen.iter().enumerate() {
        for b in &seen[i + 1..] {
            let span = b.answered.duration_since(a.sent);
            if span > interval {
                break;
            }
            assert!(
                b.ticks - a.ticks <= 2.0,
                "{} ticks within {span:?} ({:?} after the freeze began); samples: {:?}",
                b.ticks - a.ticks,
                a.sent.duration_since(seen[0].sent),
                seen.iter().map(|s| s.ticks).collect::<Vec<_>>()
            );
        }
    }
    // The runner did go on after the thaw (so the check above had ticks to see).
    let ticks_end = seen.last().unwrap().ticks;
    assert!(
        ticks_end >= ticks_at_thaw + 4.0,
        "only {} ticks in the 2 s after the thaw",
        ticks_end - ticks_at_thaw
    );
}
