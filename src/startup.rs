//! The running application: prepares the data dir, opens the store, bootstraps the admin, binds
//! the listener (port 0 in tests), starts the reconciler and serves until a shutdown signal.

use std::fs::{self, DirBuilder};
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use base64::Engine;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::http::{AppState, Guards, MetricsHandle, router};
use crate::secrets::{MasterKey, PasswordHasher, Sealer, hash_password, random_bytes};
use crate::service::Services;
use crate::store::{CachedStore, NewUser, SqliteStore, Store};

pub struct Application {
    listener: TcpListener,
    state: AppState,
    store: SqliteStore,
}

/// Creates the data dir with mode 0700 when missing; an existing dir is left as it is.
fn prepare_data_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create data dir {}", dir.display()))?;
    }
    anyhow::ensure!(
        dir.is_dir(),
        "data dir {} is not a directory",
        dir.display()
    );
    Ok(())
}

fn write_secret_file(path: &Path, content: &str) -> anyhow::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    f.write_all(b"\n")?;
    Ok(())
}

/// The first start on an empty store creates the global admin `admin`.
async fn bootstrap_admin(store: &dyn Store, settings: &Settings) -> anyhow::Result<()> {
    if store.count_users().await? > 0 {
        return Ok(());
    }
    let (password, generated) = match &settings.admin_password {
        Some(p) => (p.expose_secret().to_owned(), false),
        None => (
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes(18)),
            true,
        ),
    };
    let hash = tokio::task::spawn_blocking({
        let password = password.clone();
        move || hash_password(&password)
    })
    .await?;
    store
        .create_user(NewUser {
            name: "admin",
            password_hash: &hash,
            is_global_admin: true,
        })
        .await?;
    if generated {
        let path = settings.data_dir.join("admin-password");
        write_secret_file(&path, &password)?;
        // Shown once on the terminal, by design: this is the only way a newcomer learns it.
        println!(
            "dbkill: created user `admin` with password {password} (also saved in {})",
            path.display()
        );
    } else {
        tracing::info!("created user `admin` with the password from DBKILL_ADMIN_PASSWORD");
    }
    Ok(())
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        prepare_data_dir(&settings.data_dir)?;
        let key = MasterKey::load(settings.master_key.as_ref(), &settings.data_dir)?;
        let store = SqliteStore::open(&settings.data_dir)
            .await
            .context("cannot open the store")?;
        bootstrap_admin(&store, &settings).await?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let hasher = tokio::task::spawn_blocking(PasswordHasher::default).await?;
        let guards = Guards::new(&settings);
        let cached: Arc<dyn Store> = Arc::new(CachedStore::new(store.clone()));
        let sealer = Sealer::new(&key);
        let state = AppState {
            services: Services::new(cached.clone(), sealer.clone(), &settings),
            store: cached,
            sealer,
            hasher: Arc::new(hasher),
            settings: Arc::new(settings),
            metrics: MetricsHandle::global(),
            guards,
        };
        Ok(Self {
            listener,
            state,
            store,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish and closes the store.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let services = self.state.services.clone();
        // Kills a previous run left without outcomes are settled right away, then periodically.
        let reconciler = services.spawn_reconciler(self.state.settings.reconcile_interval);
        tokio::spawn(async move {
            match services.warm_all().await {
                Ok(n) => tracing::info!("opening lifelines for {n} db users"),
                Err(e) => tracing::warn!("cannot open lifelines: {e}"),
            }
        });
        let app = router(self.state);
        let served = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        reconciler.abort();
        self.store.close().await;
        Ok(served?)
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler can be installed");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down");
}
