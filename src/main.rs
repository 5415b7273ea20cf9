//! The `dbkill` binary: parses the command line and dispatches.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use dbkill::config::{FlagOverrides, Settings};
use dbkill::startup::{Application, shutdown_signal};

#[derive(Parser)]
#[command(
    name = "dbkill",
    version,
    about = "Kill MySQL/MariaDB sessions by user, database or id"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Serve {
        /// Address to listen on [env: DBKILL_LISTEN] [default: 127.0.0.1:8080].
        #[arg(long)]
        listen: Option<String>,
        /// Where the store, master key and admin password live [env: DBKILL_DATA_DIR] [default: ./dbkill-data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// A TOML file of settings [default: ./dbkill.toml when present].
        #[arg(long, env = "DBKILL_CONFIG")]
        config: Option<PathBuf>,
        /// The store: `sqlite://` (the embedded one in the data dir, the default) or a
        /// `postgres://` URL that several replicas share [env: DBKILL_STORE_URL].
        #[arg(long = "store", value_name = "URL")]
        store_url: Option<String>,
        /// PEM certificate chain: serve HTTPS (with --tls-key) [env: DBKILL_TLS_CERT].
        #[arg(long, value_name = "PATH")]
        tls_cert: Option<PathBuf>,
        /// PEM private key of --tls-cert [env: DBKILL_TLS_KEY].
        #[arg(long, value_name = "PATH")]
        tls_key: Option<PathBuf>,
    },
    /// Seal every stored secret under a new master key and replace the key file. Run it while
    /// `dbkill serve` is stopped (it refuses otherwise); a crash midway is finished by the next
    /// start.
    RotateMasterKey {
        /// Where the store and the master key live [env: DBKILL_DATA_DIR] [default: ./dbkill-data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// A TOML file of settings [default: ./dbkill.toml when present].
        #[arg(long, env = "DBKILL_CONFIG")]
        config: Option<PathBuf>,
        /// The store, as for `serve` [env: DBKILL_STORE_URL].
        #[arg(long = "store", value_name = "URL")]
        store_url: Option<String>,
    },
    #[command(flatten)]
    Client(dbkill::cli::ClientCommand),
}

/// Logs to stdout, filtered by `DBKILL_LOG`; colours only on a terminal, so files and
/// journald get plain text.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DBKILL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .init();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            listen,
            data_dir,
            config,
            store_url,
            tls_cert,
            tls_key,
        } => {
            init_logging();
            let flags = FlagOverrides {
                listen,
                data_dir,
                tls_cert,
                tls_key,
                store_url,
            };
            let settings = Settings::load(config.as_deref(), flags)?;
            let app = Application::build(settings).await?;
            tracing::info!("dbkill listening on {}", app.url());
            app.run_until_stopped(shutdown_signal()).await
        }
        Command::RotateMasterKey {
            data_dir,
            config,
            store_url,
        } => {
            init_logging();
            let flags = FlagOverrides {
                data_dir,
                store_url,
                ..FlagOverrides::default()
            };
            let settings = Settings::load(config.as_deref(), flags)?;
            let rotated = dbkill::keyring::rotate_master_key(&settings).await?;
            println!(
                "dbkill: re-sealed {} db user passwords and {} access key secrets under a new master key",
                rotated.db_user_passwords, rotated.access_key_secrets
            );
            Ok(())
        }
        Command::Client(command) => std::process::exit(dbkill::cli::run(command).await),
    }
}
