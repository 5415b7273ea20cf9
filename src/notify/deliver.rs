//! The background delivery loop: one task takes events from the bounded queue in order and
//! POSTs each one, retrying a failed attempt with exponential backoff before giving up.
//!
//! The webhook's URL is a secret (a Slack incoming webhook's path is its credential), so no log
//! line and no error text here carries it: reqwest's errors are stripped of their URL first.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::CONTENT_TYPE;
use reqwest::{Client, Url};
use tokio::sync::mpsc;

use super::event::RuleEvent;
use super::{Counters, NotifyError, Outcome};

/// At most one warn line per this long; the lines in between are counted and the next line
/// says how many were left out.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// How one event is delivered.
#[derive(Debug, Clone)]
pub(super) struct Delivery {
    /// The waits before each retry; when they run out the event is given up.
    pub retry_delays: Vec<Duration>,
    /// One attempt, from connecting to the answer's status.
    pub attempt_timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            retry_delays: [500, 1_000, 2_000, 4_000, 8_000]
                .into_iter()
                .map(Duration::from_millis)
                .collect(),
            attempt_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
        }
    }
}

impl Delivery {
    pub(super) fn client(&self) -> Result<Client, NotifyError> {
        // reqwest is built without a default TLS provider; ring is the one this build has.
        // Installing it again (the server or the CLI already did) is refused, harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Client::builder()
            .timeout(self.attempt_timeout)
            .connect_timeout(self.connect_timeout)
            // A webhook that redirects is misconfigured; following it would also hand the
            // event to wherever the redirect points.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("dbkill/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Client(e.without_url().to_string()))
    }
}

/// Why an attempt failed, in words without the URL.
enum Failure {
    Status(reqwest::StatusCode),
    TimedOut,
    Transport(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Status(s) if s.is_redirection() => {
                write!(f, "the webhook answered {s} (a redirect, not followed)")
            }
            Failure::Status(s) => write!(f, "the webhook answered {s}"),
            Failure::TimedOut => f.write_str("the webhook did not answer in time"),
            Failure::Transport(cause) => write!(f, "the webhook is unreachable: {cause}"),
        }
    }
}

impl From<reqwest::Error> for Failure {
    fn from(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            return Failure::TimedOut;
        }
        // The innermost cause says what happened ("Connection refused"); reqwest's own text
        // says only that sending failed (and would name the URL, removed here anyway).
        let e = e.without_url();
        let mut cause = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            cause = s.to_string();
            source = s.source();
        }
        Failure::Transport(cause)
    }
}

/// Lets one warn line through per `every`, counting the ones it holds back.
pub(super) struct WarnGate {
    every: Duration,
    last: Option<Instant>,
    held_back: u64,
}

impl WarnGate {
    pub(super) fn new(every: Duration) -> Self {
        WarnGate {
            every,
            last: None,
            held_back: 0,
        }
    }

    /// `Some(lines held back since the last one)` when a line may be written at `now`.
    pub(super) fn admit(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.duration_since(last) < self.every => {
                self.held_back += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.held_back))
            }
        }
    }
}

/// Delivers queued events until every sender is gone.
pub(super) async fn run(
    client: Client,
    url: Url,
    mut queue: mpsc::Receiver<RuleEvent>,
    counters: Arc<Counters>,
    delivery: Delivery,
) {
    let mut gate = WarnGate::new(WARN_EVERY);
    while let Some(event) = queue.recv().await {
        let body = event.to_json();
        let outcome = deliver(&client, &url, body, &delivery, &mut gate, &counters).await;
        counters.record(outcome);
    }
}

async fn deliver(
    client: &Client,
    url: &Url,
    body: Vec<u8>,
    delivery: &Delivery,
    gate: &mut WarnGate,
    counters: &Counters,
) -> Outcome {
    let mut retries = delivery.retry_delays.iter();
    for attempt in 1.. {
        let failure = match post(client, url, body.clone()).await {
            Ok(()) => return Outcome::Delivered,
            Err(failure) => failure,
        };
        let next = retries.next();
        if let Some(held_back) = gate.admit(Instant::now()) {
            let dropped = counters.dropped();
            match next {
                Some(wait) => tracing::warn!(
                    attempt,
                    retry_in_ms = wait.as_millis() as u64,
                    warnings_held_back = held_back,
                    events_dropped = dropped,
                    "webhook delivery failed: {failure}; retrying"
                ),
                None => tracing::warn!(
                    attempt,
                    warnings_held_back = held_back,
                    events_dropped = dropped,
                    "webhook delivery failed: {failure}; the event is given up"
                ),
            }
        }
        match next {
            Some(wait) => tokio::time::sleep(*wait).await,
            None => break,
        }
    }
    Outcome::Failed
}

/// One attempt: any 2xx delivers; anything else (3xx included) fails.
async fn post(client: &Client, url: &Url, body: Vec<u8>) -> Result<(), Failure> {
    let answer = client
        .post(url.clone())
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await?;
    let status = answer.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(Failure::Status(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_lets_one_line_through_per_period_and_counts_the_rest() {
        let mut gate = WarnGate::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(gate.admit(t0), Some(0));
        assert_eq!(gate.admit(t0 + Duration::from_secs(1)), None);
        assert_eq!(gate.admit(t0 + Duration::from_millis(9_999)), None);
        assert_eq!(gate.admit(t0 + Duration::from_secs(10)), Some(2));
        assert_eq!(gate.admit(t0 + Duration::from_secs(11)), None);
        assert_eq!(gate.admit(t0 + Duration::from_secs(25)), Some(1));
    }

    /// The warn lines carry a `Failure` and numbers only, so its words are what could leak.
    #[tokio::test]
    async fn a_transport_failure_is_told_without_the_url() {
        // A port that was just free: nothing listens, the connection is refused.
        let port = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = Url::parse(&format!("http://127.0.0.1:{port}/hooks/XXXXsecret")).unwrap();
        let client = Delivery::default().client().unwrap();
        let error = client.post(url).send().await.unwrap_err();
        // reqwest's own text names the URL: that is what the conversion must remove.
        assert!(format!("{error:?}").contains("XXXXsecret"), "{error:?}");

        let told = Failure::from(error).to_string();
        assert!(told.starts_with("the webhook is unreachable: "), "{told}");
        assert!(
            !told.contains("XXXXsecret") && !told.contains(&port.to_string()),
            "{told}"
        );
    }

    #[test]
    fn the_default_backoff_doubles_from_half_a_second_over_five_retries() {
        let d = Delivery::default();
        let ms: Vec<u128> = d.retry_delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [500, 1_000, 2_000, 4_000, 8_000]);
        assert_eq!(d.attempt_timeout, Duration::from_secs(5));
        assert_eq!(d.connect_timeout, Duration::from_secs(2));
    }
}
