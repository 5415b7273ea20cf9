//! A local HTTP listener standing in for a Slack/Mattermost incoming webhook: it answers every
//! `POST /hook` with 200 and keeps what was posted, for tests of `notify_webhook_url`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::Value;

/// One POST as it arrived.
#[derive(Clone, Debug)]
pub struct Posted {
    pub content_type: String,
    /// The body as JSON (`Null` if it was not JSON).
    pub body: Value,
}

type Inbox = Arc<Mutex<Vec<Posted>>>;

/// The listener; it stops when dropped.
pub struct WebhookSink {
    /// `http://127.0.0.1:<port>/hook`.
    pub url: String,
    inbox: Inbox,
    server: tokio::task::JoinHandle<()>,
}

impl WebhookSink {
    /// Listens on a free port of 127.0.0.1.
    pub async fn start() -> WebhookSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let inbox = Inbox::default();
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(inbox.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        WebhookSink {
            url: format!("http://127.0.0.1:{port}/hook"),
            inbox,
            server,
        }
    }

    /// Everything posted so far, in arrival order.
    pub fn posted(&self) -> Vec<Posted> {
        self.inbox.lock().unwrap().clone()
    }

    /// Waits up to `within` for a post whose body satisfies `wanted`; returns it.
    pub async fn wait_for(&self, within: Duration, wanted: impl Fn(&Value) -> bool) -> Posted {
        let deadline = Instant::now() + within;
        loop {
            if let Some(p) = self.posted().into_iter().find(|p| wanted(&p.body)) {
                return p;
            }
            assert!(
                Instant::now() < deadline,
                "no such webhook event within {within:?}; got {:?}",
                self.posted()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(State(inbox): State<Inbox>, headers: HeaderMap, body: Bytes) -> &'static str {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    inbox.lock().unwrap().push(Posted { content_type, body });
    "ok"
}
