//! `dbkill login`: trades a user name and password for a token (`POST /v3/auth/tokens`),
//! scoped to a project when one is given, and keeps it in the login file. The password is only
//! sent, never stored or printed.

use clap::Args;

use super::client::{Client, Scope};
use super::config::{self, StoredLogin};
use super::context::{Common, looks_like_project_id};
use super::error::{CliError, CliResult};
use super::i18n::Lang;
use super::table::local_rfc3339;

#[derive(Args, Debug)]
pub struct LoginArgs {
    #[command(flatten)]
    pub common: Common,
    /// User name on the dbkill server.
    #[arg(long, value_name = "NAME")]
    pub user: String,
    /// Read the password from one line of standard input (else it is asked for on the terminal).
    #[arg(long)]
    pub password_stdin: bool,
}

pub async fn run(args: &LoginArgs, lang: Lang) -> CliResult<i32> {
    let previous = config::load(lang).ok().flatten();
    let server = match (&args.common.server, &previous) {
        (Some(s), _) => s.clone(),
        (None, Some(p)) => p.server.clone(),
        (None, None) => return Err(CliError::Usage(lang.login_needs_server())),
    };
    // Checked before the password is asked for, so a typo costs no typing.
    // A CA given now is kept with the login, so later commands need not repeat it.
    let ca = args
        .common
        .ca
        .clone()
        .or_else(|| previous.as_ref().and_then(|p| p.ca.clone()));
    let anonymous = Client::new(&server, None, ca.as_deref(), lang)?;
    let password = super::prompt::password(args.password_stdin, &args.user, lang)?;
    let scope = match args.common.project.as_deref() {
        None => Scope::None,
        Some(p) if looks_like_project_id(p) => Scope::Id(p),
        Some(p) => Scope::Name(p),
    };
    let (token, info) = anonymous.create_token(&args.user, &password, scope).await?;
    drop(password);

    let (project, scoped) = match info.project {
        Some(p) => (Some(p), true),
        None => {
            // An unscoped login still needs a project for its URLs: the only one the user has
            // is the obvious default; with several, each command names one with --project.
            let client = Client::new(&server, Some(token.clone()), ca.as_deref(), lang)?;
            let mut projects = client.list_projects().await?;
            let only = (projects.len() == 1).then(|| projects.remove(0));
            (only, false)
        }
    };
    let login = StoredLogin {
        server: anonymous.server().to_owned(),
        user: info.user,
        project,
        scoped,
        token,
        expires_at: info.expires_at,
        ca: ca.map(|p| std::path::absolute(&p).unwrap_or(p)),
    };
    let path = config::save(&login, lang)?;
    let project_name = login
        .project
        .as_ref()
        .map_or_else(|| lang.no_project_name(), |p| p.name.clone());
    println!(
        "{}",
        lang.logged_in(
            &login.user.name,
            &login.server,
            &project_name,
            &local_rfc3339(&login.expires_at)
        )
    );
    println!("{}", lang.login_saved(&path.display().to_string()));
    Ok(0)
}
