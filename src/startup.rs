//! The running application: prepares and locks the data dir, opens the store and its master key
//! (`keyring`), bootstraps the admin, binds the listener (port 0 in tests), starts the reconciler
//! and serves until a shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use base64::Engine;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::data_dir::{self, DataDirLock};
use crate::http::serve::CurrentCertificate;
use crate::http::{AppState, Guards, MetricsHandle, router};
use crate::keyring;
use crate::notify::Notifier;
use crate::secrets::{KeySource, PasswordHasher, hash_password, random_bytes, write_private};
use crate::service::Services;
use crate::store::change_feed::ChangeFeed;
use crate::store::{self, NewUser, OpenedStore, Store, StoreError};

pub struct Application {
    listener: TcpListener,
    state: AppState,
    store: OpenedStore,
    /// No other dbkill process uses the data dir while this one runs.
    _lock: DataDirLock,
    /// `Some` when serving HTTPS.
    tls: Option<Arc<CurrentCertificate>>,
    /// On a shared store: what keeps the cache coherent with the other replicas' writes.
    _change_feed: Option<ChangeFeed>,
}

/// The first start on an empty store creates the global admin `admin`. Replicas starting at
/// once on an empty shared store all try: the one whose insert lands creates it, the others
/// find it taken and neither print nor save a password.
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
    let created = store
        .create_user(NewUser {
            name: "admin",
            password_hash: &hash,
            is_global_admin: true,
        })
        .await;
    match created {
        Ok(_) => {}
        Err(StoreError::Conflict) => {
            tracing::info!("user `admin` was created by another replica");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    }
    if generated {
        let path = settings.data_dir.join("admin-password");
        write_private(&path, &format!("{password}\n"), true)
            .with_context(|| format!("cannot write {}", path.display()))?;
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
        // Connections to targets may use TLS; the ring provider is the one this build has.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // A certificate that cannot be used stops the start before anything else happens.
        let tls = match &settings.listener.tls {
            Some(files) => Some(CurrentCertificate::load(files)?),
            None => None,
        };
        data_dir::prepare(&settings.data_dir)?;
        let lock = data_dir::lock(&settings.data_dir, "starting another")?;
        let store = store::open(&settings.store, &settings.data_dir)
            .await
            .with_context(|| format!("cannot open {}", settings.store.describe()))?;
        let key_source = KeySource::new(
            settings.master_key.as_ref(),
            settings.master_key_file.as_deref(),
            &settings.data_dir,
        );
        let sealer = keyring::open(store.keyring(), &key_source).await?;
        bootstrap_admin(store.store().as_ref(), &settings).await?;
        for file in ["master.key", "admin-password"] {
            data_dir::make_private(&settings.data_dir.join(file))?;
        }
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let hasher = tokio::task::spawn_blocking(PasswordHasher::default).await?;
        let guards = Guards::new(&settings);
        let (cached, change_feed) = store.cached();
        let replica = replica_name(&settings, &listener)?;
        tracing::info!(replica = %replica, "store: {}", settings.store.describe());
        let notifier = Notifier::start(
            settings
                .rules
                .webhook_url
                .as_ref()
                .map(|u| u.expose_secret().to_owned()),
            settings.rules.queue_len,
        )?;
        let state = AppState {
            services: Services::new(
                cached.clone(),
                sealer.clone(),
                &settings,
                notifier,
                &replica,
            ),
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
            _lock: lock,
            tls,
            _change_feed: change_feed,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// `https://…` or `http://…`, with the bound address.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr())
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish and closes the store.
    /// The rule runner stops and the replica's leases are released as soon as `shutdown`
    /// resolves, before requests drain: another replica takes the rules over meanwhile.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let services = self.state.services.clone();
        // Kills a previous run left without outcomes are settled right away, then periodically.
        let reconciler = services.spawn_reconciler(self.state.settings.reconcile_interval);
        let heartbeat = services.spawn_heartbeat();
        let rule_runner = services.spawn_rule_runner();
        let stop_after_serving = [rule_runner.abort_handle(), heartbeat.abort_handle()];
        let retiring = services.clone();
        let shutdown = async move {
            shutdown.await;
            rule_runner.abort();
            heartbeat.abort();
            retiring.retire().await;
        };
        tokio::spawn(async move {
            match services.warm_all().await {
                Ok(n) => tracing::info!("opening lifelines for {n} db users"),
                Err(e) => tracing::warn!("cannot open lifelines: {e}"),
            }
        });
        let listener_settings = self.state.settings.listener.clone();
        let app = router(self.state);
        let served =
            crate::http::serve::serve(self.listener, app, &listener_settings, self.tls, shutdown)
                .await;
        reconciler.abort();
        // Already stopped when `shutdown` resolved; this covers a serve loop that failed.
        for task in stop_after_serving {
            task.abort();
        }
        self.store.close().await;
        served
    }
}

/// `replica_name`, or `<host name>:<bound port>`.
fn replica_name(settings: &Settings, listener: &TcpListener) -> anyhow::Result<String> {
    if let Some(name) = &settings.replica_name {
        return Ok(name.clone());
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    Ok(format!("{host}:{}", listener.local_addr()?.port()))
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
