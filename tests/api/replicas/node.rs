//! One replica as the script started it: its name (`r1`…), URL and pid file; its API called
//! with a token and an expected status; its `/metrics`; and the signals a test sends it (read
//! from the pid file, as an operator would).

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::app::{ADMIN_PASSWORD, Resp};
use crate::helpers::metrics::sum;
use crate::support::server_process::{process_state, signal};

/// Instances whose rule lease a replica holds (gauge).
pub const LEASES_HELD: &str = "dbkill_rule_leases_held";
/// Sessions a replica sent a KILL to, from any source (counter).
pub const KILL_STATEMENTS: &str = "dbkill_kill_statements_total";

pub struct Node {
    /// `r1`, `r2`, …: the replica's name in leases, history rows and metrics.
    pub name: String,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// `<data root>/<name>`: `pid`, `serve.log` and the data dir `data/`.
    dir: PathBuf,
    client: reqwest::Client,
}

impl Node {
    /// Parses the script's line `r1 http://127.0.0.1:8081 pid 1234`, and checks that the pid
    /// file says the same.
    pub fn from_line(line: &str, root: &Path) -> Node {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, base, "pid", pid] = fields[..] else {
            panic!("scripts/replicas printed {line:?}, not `<name> <url> pid <pid>`");
        };
        let node = Node {
            name: name.to_owned(),
            base: base.to_owned(),
            dir: root.join(name),
            client: reqwest::Client::builder()
                .no_proxy()
                // A replica that hangs fails the test instead of stalling it.
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        };
        assert!(
            base.starts_with("http://127.0.0.1:"),
            "{name} listens on {base}"
        );
        assert_eq!(node.pid().to_string(), pid, "{name}'s pid file and line");
        node
    }

    /// The pid in `<data root>/<name>/pid`.
    pub fn pid(&self) -> u32 {
        let text = std::fs::read_to_string(self.dir.join("pid"))
            .unwrap_or_else(|e| panic!("{}'s pid file: {e}", self.name));
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{}'s pid file holds {text:?}", self.name))
    }

    /// The process runs (not gone, not a zombie waiting for the script).
    pub fn running(&self) -> bool {
        matches!(process_state(self.pid()), Some(s) if s != 'Z')
    }

    pub fn sigkill(&self) {
        signal("KILL", &self.pid().to_string());
    }

    pub fn sigterm(&self) {
        signal("TERM", &self.pid().to_string());
    }

    /// A request with `token` (if any) and a JSON body (if any); whatever it answers.
    pub async fn call(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Resp {
        let request = format!("{method} {} {path}", self.name);
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("X-Auth-Token", t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{request}: {e}"));
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        Resp {
            request,
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    /// A call as `token` that must answer `status`; its JSON body.
    pub async fn expect(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        status: u16,
    ) -> Value {
        let r = self.call(Some(token), method, path, &[], body).await;
        assert_eq!(r.status.as_u16(), status, "{}: {}", r.request, r.text);
        r.body
    }

    /// A password login through this replica; the token.
    pub async fn login(&self, name: &str, password: &str) -> String {
        let body = json!({"auth": {"identity": {"methods": ["password"],
            "password": {"user": {"name": name, "password": password}}}}});
        let r = self
            .call(None, Method::POST, "/v3/auth/tokens", &[], Some(body))
            .await;
        assert_eq!(r.status.as_u16(), 201, "{}: {}", r.request, r.text);
        r.headers["x-subject-token"].to_str().unwrap().to_owned()
    }

    pub async fn admin_token(&self) -> String {
        self.login("admin", ADMIN_PASSWORD).await
    }

    /// `/metrics` now.
    pub async fn metrics(&self) -> String {
        let r = self.call(None, Method::GET, "/metrics", &[], None).await;
        assert_eq!(r.status.as_u16(), 200, "{}: {}", r.request, r.text);
        r.text
    }

    /// The sum of every sample of `metric` (all label sets); 0 when it has none.
    pub async fn metric(&self, metric: &str) -> f64 {
        // + 0.0: an empty float sum is -0.0, which prints oddly in the tests' figures.
        sum(&self.metrics().await, metric, &[]) + 0.0
    }
}
