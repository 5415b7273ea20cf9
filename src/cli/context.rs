//! What every command after `login` starts from: the stored login (with `--server` / `--project`
//! overrides) turned into a client and a project id, and instances and db users found by id or
//! by name.

use std::path::PathBuf;

use clap::Args;

use super::api::{DbUser, Instance};
use super::client::Client;
use super::config;
use super::error::{CliError, CliResult};
use super::i18n::Lang;
use super::table::local_rfc3339;

/// Options every client command takes.
#[derive(Args, Debug, Clone, Default)]
pub struct Common {
    /// The dbkill server, e.g. http://127.0.0.1:8080 [default: the one logged in to].
    #[arg(long, global = true, value_name = "URL")]
    pub server: Option<String>,
    /// Project name or id [default: the login's project].
    #[arg(long, global = true, value_name = "NAME_OR_ID")]
    pub project: Option<String>,
    /// PEM certificate(s) of a private CA that signed an https:// server's certificate
    /// [default: the one given at login, else the system's trust store].
    #[arg(long, global = true, value_name = "PATH", env = "DBKILL_CA")]
    pub ca: Option<PathBuf>,
    /// Language of messages [default: zh-cn when LC_ALL / LC_MESSAGES / LANG starts with zh].
    #[arg(long, global = true, value_name = "LANG", ignore_case = true,
          value_parser = ["en", "en-us", "zh", "zh-cn"])]
    pub lang: Option<String>,
}

/// The instance (and db user) a session or history command works on.
#[derive(Args, Debug, Clone)]
pub struct TargetArgs {
    /// Instance id or name.
    #[arg(long, value_name = "ID_OR_NAME")]
    pub instance: String,
    /// DB user id or user name [default: the instance's only db user].
    #[arg(long, value_name = "ID_OR_USERNAME")]
    pub db_user: Option<String>,
}

pub struct Ctx {
    pub client: Client,
    pub project: String,
    pub lang: Lang,
}

/// A project id is 32 lowercase hex; anything else is taken as a name.
pub fn looks_like_project_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Ctx {
    pub async fn open(common: &Common, lang: Lang) -> CliResult<Ctx> {
        let login = config::load(lang)?.ok_or(CliError::NotLoggedIn)?;
        // An expired token would only earn a 401; say plainly what to do instead.
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&login.expires_at)
            && t <= chrono::Utc::now()
        {
            return Err(CliError::LoginExpired {
                at: local_rfc3339(&login.expires_at),
            });
        }
        let server = common.server.as_deref().unwrap_or(&login.server);
        let ca = common.ca.as_deref().or(login.ca.as_deref());
        let client = Client::new(server, Some(login.token.clone()), ca, lang)?;
        let project = match common.project.as_deref() {
            None => match &login.project {
                Some(p) => p.id.clone(),
                None => return Err(CliError::Usage(lang.no_project())),
            },
            Some(p) => match &login.project {
                Some(stored) if stored.id == p || stored.name == p => stored.id.clone(),
                _ if looks_like_project_id(p) => p.to_owned(),
                _ => client
                    .list_projects()
                    .await?
                    .into_iter()
                    .find(|x| x.name == p)
                    .map(|x| x.id)
                    .ok_or_else(|| CliError::Other(lang.unknown_project(p)))?,
            },
        };
        Ok(Ctx {
            client,
            project,
            lang,
        })
    }

    /// The instance whose id or name is `key`.
    pub async fn instance(&self, key: &str) -> CliResult<Instance> {
        let all = self.client.list_instances(&self.project).await?;
        if let Some(i) = all.iter().find(|i| i.instance_id == key) {
            return Ok(i.clone());
        }
        let mut named = all.into_iter().filter(|i| i.name == key);
        match (named.next(), named.next()) {
            (Some(i), None) => Ok(i),
            (Some(_), Some(_)) => Err(CliError::Other(self.lang.ambiguous_instance(key))),
            (None, _) => Err(CliError::Other(self.lang.unknown_instance(key))),
        }
    }

    /// The db user whose id or user name is `key`, or the instance's only one.
    pub async fn db_user(&self, instance: &Instance, key: Option<&str>) -> CliResult<DbUser> {
        let all = self
            .client
            .list_db_users(&self.project, &instance.instance_id)
            .await?;
        match key {
            Some(k) => all
                .into_iter()
                .find(|u| u.db_user_id == k || u.db_username == k)
                .ok_or_else(|| CliError::Other(self.lang.unknown_db_user(k))),
            None if all.len() == 1 => Ok(all.into_iter().next().expect("one db user")),
            None if all.is_empty() => Err(CliError::Other(self.lang.no_db_user())),
            None => {
                let names: Vec<&str> = all.iter().map(|u| u.db_username.as_str()).collect();
                Err(CliError::Usage(self.lang.choose_db_user(&names.join(", "))))
            }
        }
    }

    /// Instance and db user of a session or history command.
    pub async fn target(&self, t: &TargetArgs) -> CliResult<(Instance, DbUser)> {
        let instance = self.instance(&t.instance).await?;
        let db_user = self.db_user(&instance, t.db_user.as_deref()).await?;
        Ok((instance, db_user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_32_lowercase_hex_is_a_project_id() {
        assert!(looks_like_project_id("0123456789abcdef0123456789abcdef"));
        assert!(!looks_like_project_id("0123456789ABCDEF0123456789abcdef"));
        assert!(!looks_like_project_id("walkthrough"));
        assert!(!looks_like_project_id("0123456789abcdef0123456789abcde"));
    }
}
