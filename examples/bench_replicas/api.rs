//! The calls the benchmark makes to one dbkill (the SQLite-store service or a replica): login,
//! the set-up (project, the benchmark's PostgreSQL cluster as a `postgresql` instance, `killer`
//! as its db user), the three timed requests, a kill rule, `/metrics` and the kill history. A
//! replica's `Api` can be copied onto another replica: the store, and so the token and the ids,
//! are shared.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::server::ADMIN_PASSWORD;

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    pub base: String,
    token: String,
    project: String,
    instance: String,
    db_user: String,
}

/// An answer and how long it took, from sending the request to the end of its body.
pub struct Timed {
    pub took: Duration,
    pub body: Value,
}

impl Api {
    /// Logs in as the admin at `base`.
    pub async fn login(base: &str) -> Result<Api> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_idle_timeout(None)
            .timeout(Duration::from_secs(60))
            .build()?;
        let body = json!({"auth": {"identity": {"methods": ["password"],
            "password": {"user": {"name": "admin", "password": ADMIN_PASSWORD}}}}});
        let resp = http
            .post(format!("{base}/v3/auth/tokens"))
            .json(&body)
            .send()
            .await?;
        if resp.status().as_u16() != 201 {
            bail!("login at {base}: {}", resp.status());
        }
        let token = resp
            .headers()
            .get("x-subject-token")
            .context("login: no X-Subject-Token")?
            .to_str()?
            .to_owned();
        Ok(Api {
            http,
            base: base.to_owned(),
            token,
            project: String::new(),
            instance: String::new(),
            db_user: String::new(),
        })
    }

    /// The same token and ids, sent to another replica.
    pub fn at(&self, base: &str) -> Api {
        Api {
            base: base.to_owned(),
            ..self.clone()
        }
    }

    /// Registers project `bench`, 127.0.0.1:`pg_port` as a `postgresql` instance (`postgres`
    /// protected) and `login` as its db user.
    pub async fn register(&mut self, pg_port: u16, (user, password): (&str, &str)) -> Result<()> {
        let p = self
            .send(
                reqwest::Method::POST,
                "/v3/projects",
                Some(json!({"project": {"name": "bench"}})),
            )
            .await?;
        self.project = text_at(&p.body, "/project/id")?;
        let i = self
            .send(
                reqwest::Method::POST,
                &format!("/v3/{}/instances", self.project),
                Some(
                    json!({"name": "bench-postgresql", "datastore_type": "postgresql",
                            "host": "127.0.0.1", "port": pg_port, "protected_users": ["postgres"]}),
                ),
            )
            .await?;
        self.instance = text_at(&i.body, "/instance_id")?;
        let d = self
            .send(
                reqwest::Method::POST,
                &format!("{}/db-users", self.instance_path()),
                Some(json!({"db_username": user, "db_user_password": password,
                            "datastore_type": "postgresql"})),
            )
            .await?;
        self.db_user = text_at(&d.body, "/db_user_id")?;
        Ok(())
    }

    fn instance_path(&self) -> String {
        format!("/v3/{}/instances/{}", self.project, self.instance)
    }

    /// The token check: the cheapest authenticated read (the projects the caller may see).
    pub async fn token_check(&self) -> Result<Timed> {
        self.send(reqwest::Method::GET, "/v3/projects", None).await
    }

    /// ListProcesses of `user` (the default page).
    pub async fn list(&self, user: &str) -> Result<Timed> {
        let path = format!(
            "{}/processes?db_user_id={}&user={user}",
            self.instance_path(),
            self.db_user
        );
        self.send(reqwest::Method::GET, &path, None).await
    }

    /// KillSession of one pid; fails unless the report lists it as killed.
    pub async fn kill(&self, pid: i32) -> Result<Timed> {
        let t = self
            .send(
                reqwest::Method::DELETE,
                &format!("{}/process", self.instance_path()),
                Some(json!({"db_user_id": self.db_user, "process_ids": [pid.to_string()]})),
            )
            .await?;
        let killed = t.body["killed"]
            .as_array()
            .is_some_and(|k| k.iter().any(|e| e["id"] == json!(pid.to_string())));
        if !killed {
            bail!("the kill of {pid} did not report it killed: {}", t.body);
        }
        Ok(t)
    }

    /// A running rule on `user`'s sessions older than 1 s, and the instance's switch on.
    pub async fn rule_on(&self, user: &str) -> Result<()> {
        let flow = |op: &str| format!("{}/auto-flow/{op}", self.instance_path());
        self.send(
            reqwest::Method::PUT,
            &flow("add-kill-process-task"),
            Some(
                json!({"user": user, "time": 1, "task_duration": -1, "task_type": "auto",
                        "name": "bench failover"}),
            ),
        )
        .await?;
        self.send(
            reqwest::Method::POST,
            &flow("set-kill-process-task-switch"),
            Some(json!({"status": "ON"})),
        )
        .await?;
        Ok(())
    }

    /// The sum of every sample of `metric` in `/metrics`.
    pub async fn metric(&self, metric: &str) -> Result<f64> {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let rest = l.strip_prefix(metric)?;
                if !(rest.starts_with(' ') || rest.starts_with('{')) {
                    return None;
                }
                rest.rsplit(' ').next()?.parse::<f64>().ok()
            })
            .sum())
    }

    /// The `replica` of the newest history row of session `pid`, if there is one yet.
    pub async fn killed_by(&self, pid: i32) -> Result<Option<String>> {
        let h = self
            .send(
                reqwest::Method::GET,
                &format!(
                    "{}/auto-flow/query-kill-process-history?page_size=20",
                    self.instance_path()
                ),
                None,
            )
            .await?;
        Ok(h.body["killed_sessions"].as_array().and_then(|rows| {
            rows.iter()
                .find(|r| r["session_id"] == json!(pid))
                .map(|r| r["replica"].as_str().unwrap_or("?").to_owned())
        }))
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Timed> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("X-Auth-Token", &self.token);
        if let Some(b) = &body {
            req = req.json(b);
        }
        let start = Instant::now();
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let text = resp.text().await?;
        let took = start.elapsed();
        if !status.is_success() {
            bail!("{method} {path}: {status} {text}");
        }
        Ok(Timed {
            took,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        })
    }
}

fn text_at(v: &Value, pointer: &str) -> Result<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("no string at {pointer} in {v}"))
}
