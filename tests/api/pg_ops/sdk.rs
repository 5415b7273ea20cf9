//! The unmodified official Python SDK drives `list_postgres_processes` and
//! `cancel_instance_process` (`tests/sdk/das_pg_ops.py`). The script is engine-neutral: what it
//! is told about its instance is one [`SdkTarget`], so each kind of instance is one test that
//! opens its sessions, fills a target, runs the script and then checks on its server which
//! sessions are gone: a MariaDB instance, and a PostgreSQL one (`in03`) with `postgresql`,
//! `idle` and its backends.

use crate::helpers::app::{TestApp, spawn_app};
use crate::helpers::fixtures::{killer_ctx, new_victim};
use crate::helpers::pg::{
    self, PgVictim, SEES_AND_SIGNALS, new_database, new_role, pg_default_ctx,
};
use crate::helpers::sdk::{admin_access_key, run_sdk_script};
use crate::helpers::sessions::{Via, Victim, end_all, idle_victim, sleeping_victim};
use crate::support::mariadb::{shared, unique_name};
use crate::support::postgres;

use super::KILLER_GRANTS;

/// An instance with a default db user, and the sessions the script lists and kills.
pub struct SdkTarget {
    pub project: String,
    pub instance: String,
    /// What fits the instance (`mysql`, `postgresql`), and what does not.
    pub engine_type: &'static str,
    pub wrong_engine_type: &'static str,
    /// The command of an idle session (`Sleep`, `idle`).
    pub idle_command: &'static str,
    pub victim: String,
    pub idle_ids: Vec<u64>,
    /// Sessions running a statement whose text contains `keyword`.
    pub running_ids: Vec<u64>,
    pub keyword: String,
    /// Another account's idle sessions (the script names one of them with the victim's user).
    pub other_user: String,
    pub other_ids: Vec<u64>,
}

impl SdkTarget {
    /// The sessions the script kills: the victim's lowest idle and lowest running id.
    pub fn killed(&self) -> [u64; 2] {
        let lowest = |ids: &[u64]| *ids.iter().min().expect("sessions");
        [lowest(&self.idle_ids), lowest(&self.running_ids)]
    }
}

fn joined(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

/// Runs `tests/sdk/das_pg_ops.py` against `target`, signed with a new key of the admin.
pub async fn run_pg_ops_script(app: &TestApp, target: &SdkTarget) {
    let key = admin_access_key(app).await;
    run_sdk_script(
        "das_pg_ops.py",
        vec![
            ("DBKILL_ENDPOINT", app.base.clone()),
            ("DBKILL_AK", key.access),
            ("DBKILL_SK", key.secret),
            ("DBKILL_PROJECT", target.project.clone()),
            ("DBKILL_INSTANCE", target.instance.clone()),
            ("DBKILL_ENGINE_TYPE", target.engine_type.into()),
            ("DBKILL_WRONG_ENGINE_TYPE", target.wrong_engine_type.into()),
            ("DBKILL_IDLE_COMMAND", target.idle_command.into()),
            ("DBKILL_VICTIM_USER", target.victim.clone()),
            ("DBKILL_IDLE_IDS", joined(&target.idle_ids)),
            ("DBKILL_RUNNING_IDS", joined(&target.running_ids)),
            ("DBKILL_KEYWORD", target.keyword.clone()),
            ("DBKILL_OTHER_USER", target.other_user.clone()),
            ("DBKILL_OTHER_IDS", joined(&target.other_ids)),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_official_python_sdk_lists_and_kills_on_a_mariadb_instance() {
    // The script names only the test's own accounts: the shared server is safe.
    let db = shared();
    let app = spawn_app().await;
    let ctx = killer_ctx(&app, db, KILLER_GRANTS, &[]).await;
    let victim = new_victim(db, "sdkv");
    let other_user = new_victim(db, "sdko");
    let keyword = unique_name("pgopsmark");
    let mut idle = vec![];
    let mut running = vec![];
    for i in 0..2 {
        idle.push(idle_victim(db, &victim, None, Via::Tcp, &format!("idle{i}")).await);
        let label = format!("{keyword}_{i}");
        running.push(sleeping_victim(db, &victim, None, Via::Tcp, &label).await);
    }
    let mut other = idle_victim(db, &other_user, None, Via::Tcp, "other").await;
    let ids = |v: &[Victim]| v.iter().map(|v| v.id).collect::<Vec<_>>();
    let target = SdkTarget {
        project: ctx.project.clone(),
        instance: ctx.instance.clone(),
        engine_type: "mysql",
        wrong_engine_type: "postgresql",
        idle_command: "Sleep",
        victim: victim.clone(),
        idle_ids: ids(&idle),
        running_ids: ids(&running),
        keyword,
        other_user,
        other_ids: vec![other.id],
    };

    run_pg_ops_script(&app, &target).await;

    let killed = target.killed();
    for v in idle.iter_mut().chain(running.iter_mut()) {
        if killed.contains(&v.id) {
            assert!(v.died(db).await, "{} survived", v.label);
        } else {
            assert!(v.still_works(db).await, "{} was killed", v.label);
        }
    }
    assert!(
        other.still_works(db).await,
        "a pair with the wrong user was killed"
    );
    let h = ctx.history(&app, "").await;
    assert_eq!(h["total_count"], 2, "{h}");
    end_all(db, idle.iter().chain(&running).chain([&other])).await;
}

#[tokio::test]
async fn the_official_python_sdk_lists_and_kills_on_a_postgresql_instance() {
    // The script names only the test's own roles: the shared cluster is safe.
    let pg = postgres::shared();
    let app = spawn_app().await;
    let ctx = pg_default_ctx(&app, pg, SEES_AND_SIGNALS, &[]).await;
    let victim = new_role(pg, "sdkv", "");
    let other_user = new_role(pg, "sdko", "");
    let db = new_database(pg, "sdkdb");
    let keyword = unique_name("pgopsmark");
    let mut idle = vec![];
    let mut running = vec![];
    for (i, via) in [pg::Via::Tcp, pg::Via::Socket].into_iter().enumerate() {
        idle.push(PgVictim::idle(pg, &victim, &db, via, &format!("idle{i}")).await);
        let label = format!("{keyword}_{i}");
        running.push(PgVictim::sleeping(pg, &victim, &db, via, &label).await);
    }
    let mut other = PgVictim::idle(pg, &other_user, &db, pg::Via::Tcp, "other").await;
    let ids = |b: &[PgVictim]| b.iter().map(PgVictim::id).collect::<Vec<_>>();
    let target = SdkTarget {
        project: ctx.project.clone(),
        instance: ctx.instance.clone(),
        engine_type: "postgresql",
        wrong_engine_type: "mysql",
        idle_command: "idle",
        victim: victim.clone(),
        idle_ids: ids(&idle),
        running_ids: ids(&running),
        keyword,
        other_user,
        other_ids: vec![other.id()],
    };

    run_pg_ops_script(&app, &target).await;

    let killed = target.killed();
    let mut left = vec![];
    for b in idle.iter_mut().chain(running.iter_mut()) {
        if killed.contains(&b.id()) {
            assert!(b.died(pg).await, "{} survived", b.label);
        } else {
            assert!(b.still_works(pg).await, "{} was killed", b.label);
            left.push(b.pid);
        }
    }
    left.sort_unstable();
    assert_eq!(
        pg.pids(&victim),
        left,
        "the victim's backends on the server"
    );
    assert!(
        other.still_works(pg).await,
        "a pair with the wrong user was killed"
    );
    let h = ctx.history(&app, "").await;
    assert_eq!(h["total_count"], 2, "{h}");
    pg::end_all(pg, idle.iter().chain(&running).chain([&other]));
}
