//! `spawn_app()`: the real application on 127.0.0.1:0 with a temporary data dir, a typed client
//! whose calls state the status they expect, and the log output captured for inspection.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use dbkill::config::{RawSettings, Settings};
use dbkill::startup::Application;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;

pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// Every log line of every app in this test process, at TRACE level.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn logs() -> &'static CapturedLogs {
    static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_env_filter("trace")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        logs
    })
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub admin_token: String,
    pub data_dir: Arc<TempDir>,
    raw: RawSettings,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub struct Resp {
    /// `METHOD path` and the start of the body sent, for assertion messages.
    pub request: String,
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["error_code"].as_str().unwrap_or("")
    }
    pub fn msg(&self) -> &str {
        self.body["error_msg"].as_str().unwrap_or("")
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut RawSettings)) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let data_dir = dir.path().join("data");
    let mut raw = RawSettings {
        listen: "127.0.0.1:0".into(),
        store_url: super::store_backend::store_url_for_data_dir(&data_dir),
        data_dir,
        admin_password: Some(ADMIN_PASSWORD.into()),
        connect_timeout_ms: 3_000,
        // Kept across `restart`, as a replica's name should be: its leases and its unsettled
        // kills are its own again at once.
        replica_name: Some(super::store_backend::new_replica_name()),
        ..RawSettings::default()
    };
    tweak(&mut raw);
    start(raw, dir).await
}

async fn start(raw: RawSettings, data_dir: Arc<TempDir>) -> TestApp {
    logs();
    // reqwest is built with `rustls-no-provider` (for the CLI), so every process that builds a
    // client must install a provider first; a second install is refused, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let settings = Settings::validate(raw.clone()).expect("valid test settings");
    let app = Application::build(settings).await.expect("app builds");
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        app.run_until_stopped(async {
            let _ = stopped.await;
        })
        .await
        .expect("app runs");
    });
    let mut test_app = TestApp {
        base,
        client: reqwest::Client::new(),
        admin_token: String::new(),
        data_dir,
        raw,
        stop: Some(stop),
        task: Some(task),
    };
    test_app.admin_token = test_app.login("admin", ADMIN_PASSWORD, None).await;
    test_app
}

impl TestApp {
    pub fn data_path(&self) -> PathBuf {
        self.raw.data_dir.clone()
    }

    /// Starts a graceful stop, as SIGTERM would; the serve task ends once requests in flight
    /// are answered.
    pub fn begin_stop(&mut self) -> tokio::task::JoinHandle<()> {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.take().unwrap()
    }

    /// Stops the service gracefully and starts it again on the same data dir.
    pub async fn restart(self) -> TestApp {
        self.restart_after(|_| {}).await
    }

    /// Stops the service gracefully, runs `between` on its data dir (nothing else uses it
    /// then), and starts it again there.
    pub async fn restart_after(mut self, between: impl FnOnce(&std::path::Path)) -> TestApp {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.take().unwrap().await.unwrap();
        between(&self.raw.data_dir);
        let mut raw = self.raw.clone();
        raw.listen = "127.0.0.1:0".into();
        let token = self.admin_token.clone();
        let mut fresh = start(raw, self.data_dir.clone()).await;
        fresh.admin_token = token;
        fresh
    }

    pub async fn raw_request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let mut request = format!("{method} {path}");
        if let Some(b) = &body {
            let sent = String::from_utf8_lossy(b);
            request.push(' ');
            request.extend(sent.chars().take(300));
        }
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.header("X-Auth-Token", t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await.expect("request is answered");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            request,
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Resp {
        let body = body.map(|b| serde_json::to_vec(&b).unwrap());
        self.raw_request(method, path, Some(token), &[], body).await
    }

    /// A call as the admin, whatever it answers.
    pub async fn admin_call(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.call(method, path, &self.admin_token, body).await
    }

    /// A call as the admin that must answer `expect`.
    pub async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        expect: u16,
    ) -> Value {
        let r = self.admin_call(method, path, body).await;
        assert_eq!(r.status.as_u16(), expect, "{}: {}", r.request, r.text);
        r.body
    }

    pub async fn login(&self, name: &str, password: &str, project: Option<&str>) -> String {
        let r = self.try_login(name, password, project).await;
        assert_eq!(r.status, StatusCode::CREATED, "login {name}: {}", r.text);
        r.headers["x-subject-token"].to_str().unwrap().to_owned()
    }

    pub async fn try_login(&self, name: &str, password: &str, project: Option<&str>) -> Resp {
        let mut auth = json!({"identity": {"methods": ["password"],
            "password": {"user": {"name": name, "password": password, "domain": {"name": "x"}}}}});
        if let Some(p) = project {
            auth["scope"] = json!({"project": {"id": p}});
        }
        let body = serde_json::to_vec(&json!({ "auth": auth })).unwrap();
        self.raw_request(Method::POST, "/v3/auth/tokens", None, &[], Some(body))
            .await
    }

    pub async fn create_project(&self, name: &str) -> String {
        let b = self
            .expect(
                Method::POST,
                "/v3/projects",
                Some(json!({"project": {"name": name}})),
                201,
            )
            .await;
        b["project"]["id"].as_str().unwrap().to_owned()
    }

    pub async fn create_user(&self, name: &str, password: &str) -> String {
        let b = self
            .expect(
                Method::POST,
                "/v3/users",
                Some(json!({"user": {"name": name, "password": password}})),
                201,
            )
            .await;
        b["user"]["id"].as_str().unwrap().to_owned()
    }

    pub async fn bind(&self, project: &str, user: &str, role: &str) {
        self.expect(
            Method::PUT,
            &format!("/v3/projects/{project}/users/{user}/roles/{role}"),
            None,
            204,
        )
        .await;
    }

    /// A new user holding `role` on `project`, and their unscoped token.
    pub async fn user_with_role(&self, project: &str, role: &str) -> String {
        let name = format!("{role}_{}", &uuid_hex()[..10]);
        let id = self.create_user(&name, "password-123").await;
        self.bind(project, &id, role).await;
        self.login(&name, "password-123", None).await
    }

    pub async fn create_instance(&self, project: &str, body: Value) -> String {
        let b = self
            .expect(
                Method::POST,
                &format!("/v3/{project}/instances"),
                Some(body),
                200,
            )
            .await;
        b["instance_id"].as_str().unwrap().to_owned()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub fn uuid_hex() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}
