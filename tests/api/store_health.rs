//! Honest health and private files. A real full disk: `dbkill serve` runs in a mount namespace
//! of its own (`unshare -rm`) with its data dir on a small tmpfs, which the test fills through
//! `/proc/<pid>/root`. Then `/healthz` answers 503, and a kill is refused before any KILL, with
//! a message that says the store cannot write. Data files are 0600 after a start with umask 022.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::fixtures::{idle, new_victim, usable};
use crate::helpers::serve::{ServeProcess, ServedKiller};
use crate::support::mariadb::shared;

/// The full disk and the files' modes are the embedded store's: these tests run on it even
/// when the suite runs on the PostgreSQL store (whose outage `store_outage` covers).
const EMBEDDED_STORE: &[(&str, &str)] = &[("DBKILL_STORE_URL", "sqlite://")];

/// Heartbeats every 100 ms (lease_renew_ms), so the store is written on its own while the
/// disk is full, as a replica's heartbeat and rule leases write it every few seconds: a write
/// that failed for the full disk must not leave anything behind that fails a kill afterwards.
const BUSY_HEARTBEAT: &[(&str, &str)] = &[
    ("DBKILL_STORE_URL", "sqlite://"),
    ("DBKILL_LEASE_TTL_MS", "1000"),
    ("DBKILL_LEASE_RENEW_MS", "100"),
];

/// Small enough to fill in milliseconds, large enough for the store and the master key.
const TMPFS_SIZE: &str = "8m";

/// Writes `path` until the file system is full; the bytes written.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0x5a_u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    let _ = file.sync_all();
    written
}

struct Health {
    status: u16,
    body: Value,
    took: Duration,
}

async fn healthz(serve: &ServeProcess) -> Health {
    let started = Instant::now();
    let resp = serve
        .client
        .get(format!("{}/healthz", serve.base))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = serde_json::from_str(&resp.text().await.unwrap()).unwrap_or(Value::Null);
    Health {
        status,
        body,
        took: started.elapsed(),
    }
}

/// What `/healthz` says once its cached answer (1 s) has expired.
async fn fresh_healthz(serve: &ServeProcess) -> Health {
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    healthz(serve).await
}

async fn kill_user(serve: &ServeProcess, killer: &ServedKiller, user: &str) -> (u16, Value) {
    let resp = serve
        .client
        .delete(format!("{}{}", serve.base, killer.process_path()))
        .header("X-Auth-Token", &killer.token)
        .json(&json!({"db_user_id": killer.db_user_id, "user": user}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (
        status,
        serde_json::from_str(&resp.text().await.unwrap()).unwrap(),
    )
}

#[tokio::test]
async fn a_full_disk_fails_health_and_refuses_kills_before_any_kill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let mount = format!(
        "mount -t tmpfs -o size={TMPFS_SIZE},mode=0700 dbkill-test \"$DBKILL_DATA_DIR\" && exec \"$@\""
    );
    let serve = ServeProcess::start_wrapped(
        &data,
        &dir.path().join("serve.log"),
        BUSY_HEARTBEAT,
        &["unshare", "-rm", "sh", "-c", &mount, "sh"],
    )
    .await;
    // The server's view of its data dir: the tmpfs, which this process cannot see otherwise.
    let inside = PathBuf::from(format!("/proc/{}/root{}", serve.pid(), data.display()));
    assert!(inside.join("dbkill.db").exists(), "{}", serve.log());
    assert!(
        !data.join("dbkill.db").exists(),
        "the store is on the tmpfs"
    );

    let db = shared();
    let killer = serve.register_killer(db).await;
    let victim = new_victim(db, "fullvictim");
    let (mut conn, id) = idle(db, &victim, None).await;
    assert_eq!(healthz(&serve).await.status, 200);

    let filler = inside.join("filler");
    let filled = fill(&filler);
    assert!(filled > 0, "the tmpfs had room before");
    let full = fresh_healthz(&serve).await;
    assert_eq!(full.status, 503, "{}", full.body);
    assert_eq!(full.body["error_code"], "DAS.209999");
    assert!(
        full.body["error_msg"]
            .as_str()
            .unwrap()
            .contains("cannot write"),
        "{}",
        full.body
    );
    assert!(full.took < Duration::from_secs(3), "{:?}", full.took);
    // Callers in the same second get the same answer without another write.
    assert_eq!(healthz(&serve).await.status, 503);

    let (status, body) = kill_user(&serve, &killer, &victim).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (500, Some("DAS.209999")),
        "{body}"
    );
    let msg = body["error_msg"].as_str().unwrap();
    assert!(
        msg.contains("store cannot write") && msg.contains("no session was killed"),
        "{msg}"
    );
    assert!(
        db.alive(id) && usable(&mut conn).await,
        "nothing was killed without its intent on record"
    );
    assert!(
        serve.log().contains("store cannot write"),
        "the cause is logged"
    );

    std::fs::remove_file(&filler).unwrap();
    let healed = fresh_healthz(&serve).await;
    assert_eq!(healed.status, 200, "{}", healed.body);
    let (status, body) = kill_user(&serve, &killer, &victim).await;
    assert_eq!(status, 200, "{body}\n{}", serve.log());
    assert_eq!(body["killed"][0]["id"], id.to_string());
    assert!(!usable(&mut conn).await);
}

/// `dbkill_store_write_probes_total` as `/metrics` shows it.
async fn probes(serve: &ServeProcess) -> u64 {
    let text = serve
        .client
        .get(format!("{}/metrics", serve.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("dbkill_store_write_probes_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn a_flood_of_health_checks_makes_at_most_one_store_write_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let serve = ServeProcess::start(&data, &dir.path().join("serve.log"), &[]).await;
    let before = probes(&serve).await;
    let started = Instant::now();
    let mut healthy = 0;
    // 400 checks in waves of 25 (under any per-address cap on concurrent requests).
    for _ in 0..16 {
        let wave: Vec<_> = (0..25)
            .map(|_| {
                let (client, url) = (serve.client.clone(), format!("{}/healthz", serve.base));
                tokio::spawn(async move { client.get(url).send().await.unwrap().status().as_u16() })
            })
            .collect();
        for request in wave {
            healthy += usize::from(request.await.unwrap() == 200);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seconds = started.elapsed().as_secs() + 1;
    let made = probes(&serve).await - before;
    assert!(healthy >= 16, "{healthy} healthy answers");
    assert!(
        (1..=seconds).contains(&made),
        "{made} store writes for 400 health checks in {seconds} s"
    );
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn data_files_are_private_after_a_start_with_umask_022() {
    let dir = tempfile::tempdir().unwrap();
    // A data dir dbkill creates, and an admin password it generates (so the file exists).
    let data = dir.path().join("data");
    let serve = ServeProcess::start_wrapped(
        &data,
        &dir.path().join("serve.log"),
        EMBEDDED_STORE,
        &[
            "env",
            "-u",
            "DBKILL_ADMIN_PASSWORD",
            "sh",
            "-c",
            "umask 022 && exec \"$@\"",
            "sh",
        ],
    )
    .await;
    assert_eq!(healthz(&serve).await.status, 200);
    assert_eq!(mode(&data), 0o700, "the data dir");
    for file in [
        "dbkill.db",
        "dbkill.db-wal",
        "dbkill.db-shm",
        "master.key",
        "admin-password",
        "dbkill.lock",
    ] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    // Files some earlier version (or a hand) left open to others are closed at the next start.
    drop(serve);
    for file in ["dbkill.db", "dbkill.db-wal", "master.key", "admin-password"] {
        std::fs::set_permissions(data.join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let key = data.join("master.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let _serve = ServeProcess::start_wrapped(
        &data,
        &dir.path().join("serve2.log"),
        EMBEDDED_STORE,
        &["sh", "-c", "umask 022 && exec \"$@\"", "sh"],
    )
    .await;
    for file in [
        "dbkill.db",
        "dbkill.db-wal",
        "dbkill.db-shm",
        "admin-password",
    ] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file} after a restart");
    }
}
