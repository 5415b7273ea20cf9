//! The client half of the `dbkill` binary: subcommands that talk to a dbkill server over its
//! REST API (`login`, `instances`, `db-users`, `sessions`, `history`, `rules`), and their
//! dispatch.
//!
//! Exit codes: 0 done (a kill the user declined included), 1 the request failed, 2 usage,
//! 3 some sessions could not be killed, 4 not logged in or the login was refused.

mod api;
mod client;
mod config;
mod context;
mod db_users;
mod error;
mod history;
mod i18n;
mod instances;
mod kill;
mod login;
mod prompt;
mod rule_add;
mod rules;
mod sessions;
mod table;

use std::io::Write;

use clap::Subcommand;

use context::{Common, Ctx};
pub use error::{EXIT_FAILED, EXIT_KILL_FAILED, EXIT_LOGIN, EXIT_USAGE};
use i18n::Lang;

/// The client subcommands, flattened into the binary's own command enum.
#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Log in to a dbkill server; the token is kept in the user's config directory (0600).
    Login(login::LoginArgs),
    /// Register, list and remove instances.
    Instances {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        command: instances::InstancesCommand,
    },
    /// Register, list and remove the db users dbkill reaches an instance with.
    DbUsers {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        command: db_users::DbUsersCommand,
    },
    /// List and kill sessions.
    Sessions {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        command: sessions::SessionsCommand,
    },
    /// Show what was killed on an instance, newest first.
    History {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: history::HistoryArgs,
    },
    /// Kill rules: kill matching sessions automatically while a rule runs and the switch is ON.
    Rules {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        command: rules::RulesCommand,
    },
}

impl ClientCommand {
    fn common(&self) -> &Common {
        match self {
            ClientCommand::Login(l) => &l.common,
            ClientCommand::Instances { common, .. }
            | ClientCommand::DbUsers { common, .. }
            | ClientCommand::Sessions { common, .. }
            | ClientCommand::History { common, .. }
            | ClientCommand::Rules { common, .. } => common,
        }
    }
}

async fn dispatch(command: &ClientCommand, lang: Lang) -> error::CliResult<i32> {
    if let ClientCommand::Login(args) = command {
        return login::run(args, lang).await;
    }
    let ctx = Ctx::open(command.common(), lang).await?;
    match command {
        ClientCommand::Login(_) => unreachable!("handled above"),
        ClientCommand::Instances { command, .. } => instances::run(command, &ctx).await,
        ClientCommand::DbUsers { command, .. } => db_users::run(command, &ctx).await,
        ClientCommand::Sessions { command, .. } => match command {
            sessions::SessionsCommand::List(a) => sessions::list(a, &ctx).await,
            sessions::SessionsCommand::Kill(a) => kill::kill(a, &ctx).await,
        },
        ClientCommand::History { args, .. } => history::run(args, &ctx).await,
        ClientCommand::Rules { command, .. } => rules::run(command, &ctx).await,
    }
}

/// Runs a client command; returns the process exit code. Errors are printed on stderr in the
/// user's language.
pub async fn run(command: ClientCommand) -> i32 {
    // reqwest is built without a default TLS provider; ring needs no C toolchain or system
    // library. Installing twice is harmless (the second attempt is refused).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let lang = Lang::detect(command.common().lang.as_deref());
    let code = match dispatch(&command, lang).await {
        Ok(code) => code,
        Err(e) => {
            let _ = std::io::stdout().flush();
            eprintln!("{}", e.render(lang));
            e.exit_code()
        }
    };
    // The caller exits the process right away, which skips flushing stdout.
    let _ = std::io::stdout().flush();
    code
}
