//! History survives a crash: the real `dbkill serve` is SIGKILLed in the middle of killing 2,000
//! sessions, and the reconciliation — by the same replica started again on its data dir, or by
//! another replica on the same PostgreSQL store once the dead one's heartbeat lapsed — must
//! then list in the history exactly the victims that are gone from the server (`interrupted`),
//! and record every victim still connected as not killed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::helpers::app::uuid_hex;
use crate::helpers::fixtures::{VICTIM_PASSWORD, new_victim};
use crate::helpers::serve::{ServeProcess, ServedKiller};
use crate::support::mariadb::{MariaDb, MariaDbOptions};

const VICTIMS: usize = 2_000;
/// The kill is caught once fewer than all victims but more than this many are left.
const STILL_LEFT: u64 = 100;
/// Fresh sets of victims to try with when a kill was too fast to catch halfway.
const ATTEMPTS: usize = 4;

/// Opens `n` idle sessions of `user`, 32 at a time; returns them with their ids.
async fn open_victims(db: &MariaDb, user: &str, n: usize) -> Vec<(Conn, u64)> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..32 {
        let (next, port, user) = (next.clone(), db.port(), user.to_owned());
        workers.spawn(async move {
            let mut conns = vec![];
            while next.fetch_add(1, Ordering::Relaxed) < n {
                // Nothing sent after the handshake: no settings query per connection.
                let opts = OptsBuilder::default()
                    .ip_or_hostname("127.0.0.1")
                    .tcp_port(port)
                    .user(Some(user.clone()))
                    .pass(Some(VICTIM_PASSWORD))
                    .prefer_socket(false)
                    .max_allowed_packet(Some(16 << 20))
                    .wait_timeout(Some(28_800))
                    .stmt_cache_size(0);
                let conn = tokio::time::timeout(Duration::from_secs(30), Conn::new(opts))
                    .await
                    .expect("victim connects in time")
                    .expect("victim connects");
                let id = u64::from(conn.id());
                conns.push((conn, id));
            }
            conns
        });
    }
    let mut all = vec![];
    while let Some(conns) = workers.join_next().await {
        all.extend(conns.unwrap());
    }
    all
}

async fn close(victims: Vec<(Conn, u64)>) {
    let mut tasks = JoinSet::new();
    for (conn, _) in victims {
        tasks.spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.disconnect()).await;
        });
    }
    while tasks.join_next().await.is_some() {}
}

async fn count(monitor: &mut Conn, user: &str) -> u64 {
    monitor
        .query_first(format!(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '{user}'"
        ))
        .await
        .unwrap()
        .unwrap()
}

/// Waits until the server lists `user`'s sessions at one count for a second; returns it.
async fn settled_count(monitor: &mut Conn, user: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut last, mut since) = (u64::MAX, Instant::now());
    loop {
        let n = count(monitor, user).await;
        if n != last {
            (last, since) = (n, Instant::now());
        } else if since.elapsed() > Duration::from_secs(1) {
            return n;
        }
        assert!(Instant::now() < deadline, "{user}'s sessions never settled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Watches the victims leave while the kill runs and SIGKILLs dbkill once some, but far from
/// all, are gone. False when the kill went too fast (or finished) to be caught halfway.
async fn sigkill_mid_kill(
    dbkill: &mut ServeProcess,
    monitor: &mut Conn,
    user: &str,
    kill: &tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = count(monitor, user).await;
        if n < VICTIMS as u64 && n > STILL_LEFT {
            dbkill.sigkill();
            return true;
        }
        if n <= STILL_LEFT || kill.is_finished() {
            return false;
        }
        assert!(Instant::now() < deadline, "the kill never started");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Page `n` (of `size` rows) of the history of the kill whose report had `request_id`.
async fn history_page(
    dbkill: &ServeProcess,
    target: &ServedKiller,
    request_id: &str,
    size: usize,
    n: usize,
) -> Value {
    let path = format!(
        "{}?request_id={request_id}&page_size={size}&page_num={n}",
        target.history_path()
    );
    dbkill
        .expect(&target.token, Method::GET, &path, None, 200)
        .await
}

/// Every history row of the kill whose report had `request_id`, once there are any (≤ 30 s).
async fn reconciled_rows(
    dbkill: &ServeProcess,
    target: &ServedKiller,
    request_id: &str,
) -> Vec<Value> {
    let page = |n: usize| history_page(dbkill, target, request_id, 100, n);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut first = page(1).await;
    while first["total_count"] == 0 {
        assert!(
            Instant::now() < deadline,
            "not reconciled within 30 s:\n{}",
            dbkill.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        first = page(1).await;
    }
    let total = first["total_count"].as_u64().unwrap() as usize;
    let mut rows: Vec<Value> = first["killed_sessions"].as_array().unwrap().clone();
    for n in 2..=total.div_ceil(100) {
        rows.extend(page(n).await["killed_sessions"].as_array().unwrap().clone());
    }
    assert_eq!(rows.len(), total);
    rows
}

/// (session id, outcome, interrupted) of every session of the request, straight from the store.
async fn sessions_in_store(
    data_dir: &std::path::Path,
    request_id: &str,
) -> Vec<(i64, String, bool)> {
    crate::helpers::store_backend::store_rows(
        data_dir,
        "SELECT CAST(s.session_id AS TEXT), s.outcome, \
         CASE WHEN s.interrupted THEN 'true' ELSE 'false' END FROM kill_sessions s \
         JOIN kill_requests r ON r.id = s.request_id WHERE r.request_id = ?",
        &[request_id],
    )
    .await
    .into_iter()
    .map(|r| {
        (
            r[0].as_deref().unwrap().parse().unwrap(),
            r[1].clone().unwrap(),
            r[2].as_deref() == Some("true"),
        )
    })
    .collect()
}

/// A MariaDB with room for every victim.
fn target_server() -> MariaDb {
    MariaDb::start(MariaDbOptions {
        max_connections: VICTIMS as u32 + 200,
        event_scheduler: false,
        extra_args: vec!["--thread-cache-size=256".into()],
        ..MariaDbOptions::default()
    })
}

/// A kill of [`VICTIMS`] sessions cut short by SIGKILL.
struct CutShort {
    victims: Vec<(Conn, u64)>,
    request_id: String,
    /// When the request was sent and when dbkill was killed (Unix ms).
    sent: i64,
    killed_at: i64,
}

/// Opens the victims and kills them by user through `dbkill`, which is SIGKILLed once some,
/// but far from all, are gone (fresh victims each attempt the kill was too fast to catch).
async fn kill_cut_short_by_sigkill(
    db: &MariaDb,
    dbkill: &mut ServeProcess,
    target: &ServedKiller,
    victim: &str,
    monitor: &mut Conn,
) -> CutShort {
    for attempt in 1..=ATTEMPTS {
        let victims = open_victims(db, victim, VICTIMS).await;
        assert_eq!(settled_count(monitor, victim).await, VICTIMS as u64);
        let request_id = format!("crash-{}", uuid_hex());
        let sent = dbkill::clock::now_ms();
        let kill = tokio::spawn(
            dbkill
                .client
                .request(
                    Method::DELETE,
                    format!("{}{}", dbkill.base, target.process_path()),
                )
                .header("X-Auth-Token", &target.token)
                .header("X-Request-Id", &request_id)
                .json(&json!({"db_user_id": target.db_user_id, "user": victim}))
                .send(),
        );
        if sigkill_mid_kill(dbkill, monitor, victim, &kill).await {
            let killed_at = dbkill::clock::now_ms();
            // The report never arrived: the client saw its connection drop.
            let answer = kill.await.unwrap();
            assert!(answer.is_err(), "a report arrived: {answer:?}");
            return CutShort {
                victims,
                request_id,
                sent,
                killed_at,
            };
        }
        eprintln!("attempt {attempt}: the kill was too fast to catch halfway; again");
        let _ = kill.await;
        close(victims).await;
    }
    panic!("no kill of {VICTIMS} sessions was caught halfway in {ATTEMPTS} attempts");
}

/// Once `reconciler` settled the kill, its history and the store of `data_dir` say exactly what
/// the server shows (`left` victims still connected): every victim gone is listed once as
/// killed, interrupted, at the intent's time; every planned victim still connected is recorded
/// as not killed; and the reconciliation is logged.
async fn assert_reconciled_as_the_server_shows(
    db: &MariaDb,
    cut: &CutShort,
    victim: &str,
    left: u64,
    reconciler: &ServeProcess,
    target: &ServedKiller,
    data_dir: &std::path::Path,
) {
    let rows = reconciled_rows(reconciler, target, &cut.request_id).await;
    let alive: BTreeSet<u64> = db.processlist_ids(victim).into_iter().collect();
    assert_eq!(alive.len() as u64, left);
    let gone: BTreeSet<u64> = cut
        .victims
        .iter()
        .map(|(_, id)| *id)
        .filter(|id| !alive.contains(id))
        .collect();
    eprintln!(
        "SIGKILL {} ms after the request: {} victims gone, {} still connected",
        cut.killed_at - cut.sent,
        gone.len(),
        alive.len()
    );
    let listed: BTreeSet<u64> = rows
        .iter()
        .map(|r| r["session_id"].as_u64().unwrap())
        .collect();
    assert_eq!(listed.len(), rows.len(), "each session once");
    assert_eq!(
        listed, gone,
        "the history lists exactly the victims that are gone"
    );
    for row in &rows {
        assert_eq!(row["interrupted"], json!(true), "{row}");
        assert_eq!(row["request_id"], cut.request_id.as_str(), "{row}");
        assert_eq!(row["user"], victim, "{row}");
        let kill_time = row["kill_time"].as_i64().unwrap();
        assert!(
            (cut.sent..=cut.killed_at).contains(&kill_time),
            "the intent's time: {} ≤ {kill_time} ≤ {}",
            cut.sent,
            cut.killed_at
        );
    }
    // Every planned session has its outcome: gone ones killed, connected ones not killed.
    let mut not_killed = BTreeSet::new();
    for (id, outcome, interrupted) in sessions_in_store(data_dir, &cut.request_id).await {
        assert!(interrupted, "{id} {outcome}");
        match outcome.as_str() {
            "killed" => assert!(gone.contains(&(id as u64)), "{id} is still connected"),
            "not_killed" => assert!(not_killed.insert(id as u64)),
            other => panic!("{id}: {other}"),
        }
    }
    assert!(
        not_killed.is_subset(&alive),
        "not killed but gone: {:?}",
        not_killed.difference(&alive).collect::<Vec<_>>()
    );
    // A victim the kill's listing missed was never planned and has no row; say so if one did.
    if not_killed.len() != alive.len() {
        eprintln!(
            "{} connected victims were not in the plan",
            alive.len() - not_killed.len()
        );
    }
    assert!(
        reconciler.log().contains("reconciled"),
        "the reconciliation is logged:\n{}",
        reconciler.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_cut_short_by_sigkill_is_reconciled_after_a_restart() {
    let db = target_server();
    let victim = new_victim(&db, "crash");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut dbkill = ServeProcess::start(&data, &dir.path().join("first.log"), &[]).await;
    let target = dbkill.register_killer(&db).await;
    let mut monitor = db.connect("root", "").await;
    let cut = kill_cut_short_by_sigkill(&db, &mut dbkill, &target, &victim, &mut monitor).await;

    // The KILLs the server had taken finish; then dbkill starts again on the same data dir.
    let left = settled_count(&mut monitor, &victim).await;
    let dbkill = ServeProcess::start(&data, &dir.path().join("second.log"), &[]).await;
    assert_reconciled_as_the_server_shows(&db, &cut, &victim, left, &dbkill, &target, &data).await;
    close(cut.victims).await;
}

/// Whether replica `name`'s heartbeat is live in the store of `data_dir`, by the store's clock.
async fn heartbeat_live(data_dir: &std::path::Path, name: &str) -> bool {
    let rows = crate::helpers::store_backend::store_rows(
        data_dir,
        "SELECT name FROM replicas WHERE name = ? \
         AND expires_at > (extract(epoch FROM clock_timestamp()) * 1000)::bigint",
        &[name],
    )
    .await;
    !rows.is_empty()
}

/// How many history rows the kill whose report had `request_id` has now.
async fn history_rows_now(dbkill: &ServeProcess, target: &ServedKiller, request_id: &str) -> u64 {
    history_page(dbkill, target, request_id, 1, 1).await["total_count"]
        .as_u64()
        .unwrap()
}

/// Two replicas on one PostgreSQL store: replica A is SIGKILLed in the middle of a kill, and
/// replica B (another name, another data dir) settles A's kill — but only once A's heartbeat
/// has lapsed: while it is live, A might still be sending those KILLs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_cut_short_on_one_replica_is_reconciled_by_another_once_its_heartbeat_lapses() {
    let db = target_server();
    let victim = new_victim(&db, "crash");
    let dir = tempfile::tempdir().unwrap();
    let (data_a, data_b) = (dir.path().join("a"), dir.path().join("b"));
    crate::helpers::store_backend::share_store(&[&data_a, &data_b]);
    let key = hex::encode([0x5c_u8; 32]);
    let env = [
        ("DBKILL_MASTER_KEY", key.as_str()),
        // B looks every second, so it settles soon after A's heartbeat (15 s) lapses.
        ("DBKILL_RECONCILE_INTERVAL_MS", "1000"),
    ];
    let mut a = ServeProcess::start(&data_a, &dir.path().join("a.log"), &env).await;
    let a_name = crate::helpers::store_backend::replica_name_for_data_dir(&data_a);
    let target = a.register_killer(&db).await;
    let mut monitor = db.connect("root", "").await;
    let cut = kill_cut_short_by_sigkill(&db, &mut a, &target, &victim, &mut monitor).await;

    let left = settled_count(&mut monitor, &victim).await;
    let b = ServeProcess::start(&data_b, &dir.path().join("b.log"), &env).await;
    // While A's heartbeat is live, B leaves A's kill alone (the history is read before the
    // heartbeat, so rows seen while it is still live were written while it was live).
    let mut watched_while_live = 0;
    loop {
        let rows = history_rows_now(&b, &target, &cut.request_id).await;
        let live = heartbeat_live(&data_a, &a_name).await;
        assert!(
            rows == 0 || !live,
            "B settled A's kill while A's heartbeat was live:\n{}",
            b.log()
        );
        if !live {
            break;
        }
        watched_while_live += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        watched_while_live > 0,
        "A's heartbeat had lapsed before B was watched"
    );
    assert_reconciled_as_the_server_shows(&db, &cut, &victim, left, &b, &target, &data_a).await;
    close(cut.victims).await;
}
