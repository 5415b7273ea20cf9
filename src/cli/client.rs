//! A typed client for dbkill's REST API. Every request carries the token (never logged or
//! printed), `X-Language`, `X-Dbkill-Client: cli` (so the kill history says `cli:<user>`), and a
//! timeout; DAS error bodies become [`CliError::Das`] with both the code and the (localized)
//! message.

use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::api::*;
use super::error::{CliError, CliResult};
use super::i18n::Lang;

/// A kill waits for its sessions to leave the processlist, so a large one can take seconds.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    lang: Lang,
}

/// What a login is scoped to: a project id, or a project name to be looked up by the server.
pub enum Scope<'a> {
    None,
    Id(&'a str),
    Name(&'a str),
}

/// Checks and normalises a server URL (no trailing slash).
pub fn normalise_server(url: &str, lang: Lang) -> CliResult<String> {
    let url = url.trim().trim_end_matches('/');
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url.to_owned())
    } else {
        Err(CliError::Usage(lang.bad_server_url(url)))
    }
}

/// The certificates of a private CA, from a PEM file.
fn private_ca(path: &Path, lang: Lang) -> CliResult<Vec<reqwest::Certificate>> {
    let shown = path.display().to_string();
    let pem =
        std::fs::read(path).map_err(|e| CliError::Other(lang.bad_ca(&shown, &e.to_string())))?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        Ok(_) => Err(CliError::Other(lang.bad_ca(&shown, "no PEM certificate"))),
        Err(e) => Err(CliError::Other(lang.bad_ca(&shown, &e.to_string()))),
    }
}

impl Client {
    /// A client of `server`; an `https://` server is verified against the system's trust
    /// store, or only against the PEM certificates in `ca` (a private CA) when given.
    pub fn new(
        server: &str,
        token: Option<String>,
        ca: Option<&Path>,
        lang: Lang,
    ) -> CliResult<Client> {
        let mut builder = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("dbkill-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = ca {
            builder = builder.tls_certs_only(private_ca(ca, lang)?);
        }
        let http = builder
            .build()
            .map_err(|e| CliError::Other(e.to_string()))?;
        Ok(Client {
            http,
            base: normalise_server(server, lang)?,
            token,
            lang,
        })
    }

    pub fn server(&self) -> &str {
        &self.base
    }

    fn transport_error(&self, e: reqwest::Error) -> CliError {
        if e.is_timeout() {
            CliError::TimedOut {
                server: self.base.clone(),
            }
        } else {
            // The innermost cause says what happened ("Connection refused"); reqwest's own text
            // only repeats the URL.
            let mut detail = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                detail = s.to_string();
                source = s.source();
            }
            CliError::Unreachable {
                server: self.base.clone(),
                detail,
            }
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> CliResult<reqwest::Response> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-Language", self.lang.header())
            .header("X-Dbkill-Client", "cli");
        if let Some(t) = &self.token {
            req = req.header("X-Auth-Token", t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| self.transport_error(e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| self.transport_error(e))?;
        Err(match serde_json::from_str::<ErrorBody>(&text) {
            Ok(b) => CliError::Das {
                status,
                code: b.error_code,
                msg: b.error_msg,
            },
            Err(_) => CliError::BadAnswer {
                status,
                detail: text.chars().take(200).collect(),
            },
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> CliResult<T> {
        let resp = self.send(method, path, body).await?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| self.transport_error(e))?;
        serde_json::from_str(&text).map_err(|e| CliError::BadAnswer {
            status,
            detail: e.to_string(),
        })
    }

    /// `POST /v3/auth/tokens`: the token and what the server says about it.
    pub async fn create_token(
        &self,
        user: &str,
        password: &str,
        scope: Scope<'_>,
    ) -> CliResult<(String, TokenInfo)> {
        let mut auth = json!({"identity": {"methods": ["password"],
            "password": {"user": {"name": user, "password": password}}}});
        match scope {
            Scope::None => {}
            Scope::Id(id) => auth["scope"] = json!({"project": {"id": id}}),
            Scope::Name(name) => auth["scope"] = json!({"project": {"name": name}}),
        }
        let resp = self
            .send(
                Method::POST,
                "/v3/auth/tokens",
                Some(&json!({ "auth": auth })),
            )
            .await?;
        let status = resp.status().as_u16();
        let token = resp
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| CliError::BadAnswer {
                status,
                detail: "no X-Subject-Token header".into(),
            })?;
        let text = resp.text().await.map_err(|e| self.transport_error(e))?;
        let body: TokenEnvelope = serde_json::from_str(&text).map_err(|e| CliError::BadAnswer {
            status,
            detail: e.to_string(),
        })?;
        Ok((token, body.token))
    }

    pub async fn list_projects(&self) -> CliResult<Vec<IdName>> {
        let l: ProjectList = self.call(Method::GET, "/v3/projects", None).await?;
        Ok(l.projects)
    }

    /// Every instance of the project, all pages.
    pub async fn list_instances(&self, project: &str) -> CliResult<Vec<Instance>> {
        let mut out = Vec::new();
        loop {
            let path = format!("/v3/{project}/instances?offset={}&limit=100", out.len());
            let page: InstanceList = self.call(Method::GET, &path, None).await?;
            let done = page.instances.is_empty();
            out.extend(page.instances);
            if done || out.len() as i64 >= page.total {
                return Ok(out);
            }
        }
    }

    pub async fn create_instance(&self, project: &str, new: &NewInstance) -> CliResult<String> {
        let body = serde_json::to_value(new).map_err(|e| CliError::Other(e.to_string()))?;
        let r: InstanceId = self
            .call(
                Method::POST,
                &format!("/v3/{project}/instances"),
                Some(&body),
            )
            .await?;
        Ok(r.instance_id)
    }

    pub async fn delete_instance(&self, project: &str, instance: &str) -> CliResult<()> {
        let _: serde_json::Value = self
            .call(
                Method::DELETE,
                &format!("/v3/{project}/instances/{instance}"),
                None,
            )
            .await?;
        Ok(())
    }

    /// Every db user of the instance, all pages.
    pub async fn list_db_users(&self, project: &str, instance: &str) -> CliResult<Vec<DbUser>> {
        let mut out = Vec::new();
        loop {
            let path = format!(
                "/v3/{project}/instances/{instance}/db-users?offset={}&limit=100",
                out.len()
            );
            let page: DbUserList = self.call(Method::GET, &path, None).await?;
            let done = page.db_users.is_empty();
            out.extend(page.db_users);
            if done || out.len() as i64 >= page.total {
                return Ok(out);
            }
        }
    }

    pub async fn register_db_user(
        &self,
        project: &str,
        instance: &str,
        username: &str,
        password: &str,
        datastore_type: &str,
    ) -> CliResult<String> {
        let body = json!({"db_username": username, "db_user_password": password,
                          "datastore_type": datastore_type});
        let r: DbUserId = self
            .call(
                Method::POST,
                &format!("/v3/{project}/instances/{instance}/db-users"),
                Some(&body),
            )
            .await?;
        Ok(r.db_user_id)
    }

    pub async fn delete_db_user(
        &self,
        project: &str,
        instance: &str,
        db_user: &str,
    ) -> CliResult<()> {
        let _: serde_json::Value = self
            .call(
                Method::DELETE,
                &format!("/v3/{project}/instances/{instance}/db-users/{db_user}"),
                None,
            )
            .await?;
        Ok(())
    }

    /// One page of ListProcesses.
    pub async fn list_processes(
        &self,
        project: &str,
        instance: &str,
        query: &ProcessQuery<'_>,
    ) -> CliResult<ProcessList> {
        let qs = serde_urlencoded::to_string(query).map_err(|e| CliError::Other(e.to_string()))?;
        self.call(
            Method::GET,
            &format!("/v3/{project}/instances/{instance}/processes?{qs}"),
            None,
        )
        .await
    }

    pub async fn kill(
        &self,
        project: &str,
        instance: &str,
        req: &KillRequest,
    ) -> CliResult<KillReport> {
        let body = serde_json::to_value(req).map_err(|e| CliError::Other(e.to_string()))?;
        self.call(
            Method::DELETE,
            &format!("/v3/{project}/instances/{instance}/process"),
            Some(&body),
        )
        .await
    }

    pub async fn kill_history(
        &self,
        project: &str,
        instance: &str,
        page_num: u32,
        page_size: u32,
    ) -> CliResult<KillHistory> {
        self.call(
            Method::GET,
            &format!(
                "/v3/{project}/instances/{instance}/auto-flow/query-kill-process-history?page_num={page_num}&page_size={page_size}"
            ),
            None,
        )
        .await
    }
}

impl Client {
    fn auto_flow(project: &str, instance: &str, operation: &str) -> String {
        format!("/v3/{project}/instances/{instance}/auto-flow/{operation}")
    }

    /// Whether the instance's rules may run: `ON` or `OFF`.
    pub async fn rule_switch(&self, project: &str, instance: &str) -> CliResult<String> {
        let path = Self::auto_flow(project, instance, "get-kill-process-task-switch");
        let r: RuleSwitch = self.call(Method::GET, &path, None).await?;
        Ok(r.status)
    }

    pub async fn set_rule_switch(&self, project: &str, instance: &str, on: bool) -> CliResult<()> {
        let path = Self::auto_flow(project, instance, "set-kill-process-task-switch");
        let body = json!({"status": if on { "ON" } else { "OFF" }});
        let _: serde_json::Value = self.call(Method::POST, &path, Some(&body)).await?;
        Ok(())
    }

    /// What a rule with `rule`'s conditions would kill now.
    pub async fn preview_rule(
        &self,
        project: &str,
        instance: &str,
        rule: &RuleBody,
    ) -> CliResult<RulePreview> {
        let path = Self::auto_flow(project, instance, "preview-session-for-kill-process-task");
        let body = serde_json::to_value(rule).map_err(|e| CliError::Other(e.to_string()))?;
        self.call(Method::POST, &path, Some(&body)).await
    }

    /// Adds the rule; its task id.
    pub async fn add_rule(&self, project: &str, instance: &str, rule: &RuleBody) -> CliResult<i64> {
        let path = Self::auto_flow(project, instance, "add-kill-process-task");
        let body = serde_json::to_value(rule).map_err(|e| CliError::Other(e.to_string()))?;
        let r: RuleAdded = self.call(Method::PUT, &path, Some(&body)).await?;
        Ok(r.task_id)
    }

    /// The instance's rules, newest first.
    pub async fn list_rules(&self, project: &str, instance: &str) -> CliResult<Vec<Rule>> {
        let path = Self::auto_flow(project, instance, "query-kill-process-task");
        let r: RuleList = self.call(Method::GET, &path, None).await?;
        Ok(r.sql_killing_task_resp_list)
    }

    pub async fn stop_rule(&self, project: &str, instance: &str, task_id: u64) -> CliResult<()> {
        let path = Self::auto_flow(project, instance, "terminate-kill-process-task");
        // A string, as DAS's own SDK sends it.
        let body = json!({"task_id": task_id.to_string()});
        let _: serde_json::Value = self.call(Method::POST, &path, Some(&body)).await?;
        Ok(())
    }
}

/// The query of ListProcesses; absent filters are left out.
#[derive(Serialize)]
pub struct ProcessQuery<'a> {
    pub db_user_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<&'a str>,
    pub offset: usize,
    pub limit: usize,
}
