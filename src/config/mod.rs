//! Typed settings. Layers, later wins: built-in defaults < `dbkill.toml` (or the file named by
//! `--config` / `DBKILL_CONFIG`) < `DBKILL_*` environment variables < command-line flags.
//! Everything is validated once, at start, with a message that says what to change.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

mod store;
pub use store::StoreLocation;

/// Raw, layered values before validation. Field names are the TOML keys and, upper-cased with the
/// `DBKILL_` prefix, the environment variables.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RawSettings {
    pub listen: String,
    pub data_dir: PathBuf,
    /// Seconds a token stays valid.
    pub token_ttl: u64,
    /// Milliseconds allowed to open a connection to a target instance.
    pub connect_timeout_ms: u64,
    /// Milliseconds allowed for one statement on a target instance.
    pub statement_timeout_ms: u64,
    /// Milliseconds a kill waits to see its sessions leave the processlist (`gone`).
    pub verify_timeout_ms: u64,
    /// Connections one large kill may spread its KILL batches over (the lifeline included).
    pub kill_connections: u64,
    /// Milliseconds a kill request has, by default, to send its KILLs, verify and answer; a
    /// request's `deadline_ms` overrides it.
    pub kill_deadline_ms: u64,
    /// Kill every session of a user with one MariaDB `KILL USER` where that is exactly the plan,
    /// instead of pipelined `KILL <id>` batches. Off by default: on the benchmark machine the
    /// batches were as fast or faster (BENCHMARKS.md), and only they are sure to kill exactly
    /// the planned sessions (`KILL USER` also ends the user's sessions opened after the listing).
    pub kill_user_statement: bool,
    /// Milliseconds between two reconciliations of kills whose outcome is not on record
    /// (dbkill stopped mid-kill, or the server stopped answering); the first runs at start.
    pub reconcile_interval_ms: u64,
    // --- Authentication: rate limits and signed requests (issue #12, auth) ---
    /// Requests per second each caller may make: a user (whichever of its tokens or access keys
    /// it uses) or, for requests without valid credentials, the client address; 0 turns it off.
    pub rate_limit_per_second: u32,
    /// How many requests a caller may make at once before the rate applies.
    pub rate_limit_burst: u32,
    /// Seconds an `X-Sdk-Date` may be from the server's clock, either way.
    pub signature_max_skew_secs: u64,
    /// Signatures remembered so that none is accepted twice; when it is full, new signed requests
    /// that must be single-use are refused (429) until the oldest leave the clock window.
    pub signature_replay_cache_entries: u64,
    /// Accept `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD` on requests without a body (it is always
    /// refused on a request with one); false refuses it everywhere.
    pub signature_unsigned_payload: bool,
    /// Refuse a repeated signed read (GET, HEAD) too; by default only requests that can change
    /// something are single-use.
    pub signature_single_use_reads: bool,
    // --- end of authentication settings ---
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_key: Option<String>,
    // Master key (issue #12, point 7).
    /// A file holding the master key, outside the data dir (e.g. a mounted secret); readable
    /// by its owner only. Exclusive with `master_key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_key_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_password: Option<String>,

    // --- Store and replicas (issue #15) ---
    /// Absent or `sqlite://`: the embedded store in the data dir; `postgres://…`: a PostgreSQL
    /// store several replicas share. May hold a password: never logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_url: Option<String>,
    /// This replica's name in leases, history and logs; default `<host name>:<port>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_name: Option<String>,

    // --- Listener: connection hygiene and HTTPS (src/http/serve) ---
    /// Connections served at once; at the cap, the connection idle the longest is closed to
    /// make room (never one with a request in flight).
    pub max_connections: u64,
    /// Requests one client address may have in flight at once; more get 429 with Retry-After.
    pub max_requests_per_client: u64,
    /// Milliseconds a client has to send a request's head, from the connection's start or the
    /// first byte of the head.
    pub header_read_timeout_ms: u64,
    /// Milliseconds a client has to send a request's whole body, from the end of its head.
    pub body_read_timeout_ms: u64,
    /// Milliseconds a keep-alive connection may wait for its next request.
    pub keep_alive_timeout_ms: u64,
    /// PEM certificate chain; with `tls_key`, `serve` speaks HTTPS only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,

    // --- Kill rules (issue #13) ---
    /// Milliseconds between two ticks of an instance's rules (one listing per tick).
    pub rule_interval_ms: u64,
    /// Rules running or paused at once on one instance.
    pub rules_per_instance: u64,
    /// Where rule kill batches and pauses are posted as JSON (a Slack or Mattermost incoming
    /// webhook works as is). A secret: never logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_webhook_url: Option<String>,
    /// Webhook events waiting for delivery; more are dropped (and counted).
    pub notify_queue_len: u64,
    /// Milliseconds a replica's lease on an instance's rules lasts unless renewed: how long
    /// rules wait for a new owner after their owner dies.
    pub lease_ttl_ms: u64,
    /// Milliseconds between two renewals of a held lease (and of the replica's heartbeat).
    pub lease_renew_ms: u64,
}

impl Default for RawSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./dbkill-data"),
            token_ttl: 86_400,
            connect_timeout_ms: 5_000,
            statement_timeout_ms: 10_000,
            verify_timeout_ms: 2_000,
            kill_connections: 1,
            kill_deadline_ms: 15_000,
            kill_user_statement: false,
            reconcile_interval_ms: 5_000,
            rate_limit_per_second: 50,
            rate_limit_burst: 200,
            signature_max_skew_secs: 300,
            signature_replay_cache_entries: 100_000,
            signature_unsigned_payload: true,
            signature_single_use_reads: false,
            master_key: None,
            master_key_file: None,
            admin_password: None,
            store_url: None,
            replica_name: None,

            // Listener
            max_connections: 4_096,
            max_requests_per_client: 64,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            keep_alive_timeout_ms: 30_000,
            tls_cert: None,
            tls_key: None,

            // Kill rules
            rule_interval_ms: 1_000,
            rules_per_instance: 20,
            notify_webhook_url: None,
            notify_queue_len: 1_000,
            lease_ttl_ms: 15_000,
            lease_renew_ms: 5_000,
        }
    }
}

/// Overrides given on the command line (`dbkill serve --listen … --data-dir …`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_url: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

/// How `SDK-HMAC-SHA256` signatures are accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignaturePolicy {
    /// Seconds `X-Sdk-Date` may be from the server's clock, either way.
    pub max_skew_secs: i64,
    /// Signatures the replay cache holds at most.
    pub replay_cache_entries: usize,
    /// `UNSIGNED-PAYLOAD` accepted on requests without a body.
    pub unsigned_payload: bool,
    /// Signed reads are single-use too.
    pub single_use_reads: bool,
}

/// The certificate and key files `serve` speaks HTTPS with (reloaded on SIGHUP).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How connections are accepted and bounded (src/http/serve).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerSettings {
    pub max_connections: usize,
    pub max_requests_per_client: usize,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub keep_alive_timeout: Duration,
    /// `None`: plain HTTP.
    pub tls: Option<TlsFiles>,
}

/// Validated settings the service runs with.
#[derive(Clone, Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub token_ttl: Duration,
    pub connect_timeout: Duration,
    pub statement_timeout: Duration,
    pub verify_timeout: Duration,
    pub kill_connections: usize,
    pub kill_deadline: Duration,
    pub kill_user_statement: bool,
    pub reconcile_interval: Duration,
    /// `None` when rate limiting is off.
    pub rate_limit: Option<RateLimit>,
    pub signatures: SignaturePolicy,
    /// 64 hex chars or base64 of 32 bytes; when absent `<data_dir>/master.key` is used.
    pub master_key: Option<SecretString>,
    /// The master key's file when it is not `<data_dir>/master.key`.
    pub master_key_file: Option<PathBuf>,
    /// The bootstrap admin's password; when absent one is generated on first start.
    pub admin_password: Option<SecretString>,
    pub store: StoreLocation,
    /// `None`: `<host name>:<port>`, decided once the port is bound.
    pub replica_name: Option<String>,
    pub listener: ListenerSettings,
    pub rules: RuleSettings,
}

/// How kill rules run.
#[derive(Clone, Debug)]
pub struct RuleSettings {
    pub interval: Duration,
    pub per_instance: usize,
    /// A secret (Slack webhooks carry their token in the path): never logged.
    pub webhook_url: Option<SecretString>,
    pub queue_len: usize,
    /// How long a lease on an instance's rules lasts unless renewed.
    pub lease_ttl: Duration,
    /// How often a held lease and the replica's heartbeat are renewed.
    pub lease_renew: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration: {0}")]
    Load(String),
    #[error("invalid setting `{key}`: {why}")]
    Invalid { key: &'static str, why: String },
}

impl Settings {
    /// Loads the layers. `config_file` is the explicit file, if any; otherwise `./dbkill.toml` is
    /// read when it exists.
    pub fn load(config_file: Option<&Path>, flags: FlagOverrides) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(RawSettings::default()));
        match config_file {
            Some(path) if !path.exists() => {
                return Err(ConfigError::Load(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            Some(path) => fig = fig.merge(Toml::file(path)),
            None => fig = fig.merge(Toml::file("dbkill.toml")),
        }
        let raw: RawSettings = fig
            .merge(Env::prefixed("DBKILL_").ignore(&["config"]))
            .merge(Serialized::defaults(flags))
            .extract()
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        Self::validate(raw)
    }

    pub fn validate(raw: RawSettings) -> Result<Self, ConfigError> {
        let listen = raw.listen.parse().map_err(|_| ConfigError::Invalid {
            key: "listen",
            why: format!(
                "`{}` is not an address like 127.0.0.1:8080 (set DBKILL_LISTEN or --listen)",
                raw.listen
            ),
        })?;
        if raw.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::Invalid {
                key: "data_dir",
                why: "must not be empty (set DBKILL_DATA_DIR or --data-dir)".into(),
            });
        }
        let in_range = |key: &'static str, v: u64, lo: u64, hi: u64, unit: &str| {
            if (lo..=hi).contains(&v) {
                Ok(v)
            } else {
                Err(ConfigError::Invalid {
                    key,
                    why: format!("{v} is outside {lo}..={hi} {unit}"),
                })
            }
        };
        let token_ttl = in_range("token_ttl", raw.token_ttl, 1, 31_536_000, "seconds")?;
        let connect = in_range(
            "connect_timeout_ms",
            raw.connect_timeout_ms,
            50,
            120_000,
            "ms",
        )?;
        let statement = in_range(
            "statement_timeout_ms",
            raw.statement_timeout_ms,
            50,
            3_600_000,
            "ms",
        )?;
        let verify = in_range("verify_timeout_ms", raw.verify_timeout_ms, 0, 60_000, "ms")?;
        let kill_connections = in_range(
            "kill_connections",
            raw.kill_connections,
            1,
            16,
            "connections",
        )?;
        let kill_deadline = in_range("kill_deadline_ms", raw.kill_deadline_ms, 100, 600_000, "ms")?;
        let reconcile = in_range(
            "reconcile_interval_ms",
            raw.reconcile_interval_ms,
            100,
            600_000,
            "ms",
        )?;
        let rate_limit = match raw.rate_limit_per_second {
            0 => None,
            per_second => Some(RateLimit {
                per_second,
                burst: u32::try_from(in_range(
                    "rate_limit_burst",
                    u64::from(raw.rate_limit_burst),
                    1,
                    1_000_000,
                    "requests",
                )?)
                .unwrap_or(1),
            }),
        };
        if raw.master_key.is_some() && raw.master_key_file.is_some() {
            return Err(ConfigError::Invalid {
                key: "master_key_file",
                why: "set DBKILL_MASTER_KEY or DBKILL_MASTER_KEY_FILE, not both".into(),
            });
        }
        if raw
            .master_key_file
            .as_ref()
            .is_some_and(|f| f.as_os_str().is_empty())
        {
            return Err(ConfigError::Invalid {
                key: "master_key_file",
                why: "must not be empty".into(),
            });
        }
        let signatures = SignaturePolicy {
            max_skew_secs: in_range(
                "signature_max_skew_secs",
                raw.signature_max_skew_secs,
                30,
                900,
                "seconds",
            )? as i64,
            replay_cache_entries: in_range(
                "signature_replay_cache_entries",
                raw.signature_replay_cache_entries,
                1,
                10_000_000,
                "signatures",
            )? as usize,
            unsigned_payload: raw.signature_unsigned_payload,
            single_use_reads: raw.signature_single_use_reads,
        };
        if let Some(pw) = &raw.admin_password
            && !(8..=128).contains(&pw.chars().count())
        {
            return Err(ConfigError::Invalid {
                key: "admin_password",
                why: "must be 8..128 characters".into(),
            });
        }
        let listener = validate_listener(&raw)?;
        let store = store::validate_store_url(raw.store_url.as_deref())?;
        let replica_name = store::validate_replica_name(raw.replica_name.as_deref())?;
        let lease_ttl = in_range("lease_ttl_ms", raw.lease_ttl_ms, 1_000, 600_000, "ms")?;
        // Renewing at most every third of the lease leaves two renewals to fail before it lapses.
        let lease_renew = in_range(
            "lease_renew_ms",
            raw.lease_renew_ms,
            100,
            lease_ttl / 3,
            "ms (at most a third of lease_ttl_ms)",
        )?;
        let rules = RuleSettings {
            interval: Duration::from_millis(in_range(
                "rule_interval_ms",
                raw.rule_interval_ms,
                250,
                60_000,
                "ms",
            )?),
            per_instance: in_range(
                "rules_per_instance",
                raw.rules_per_instance,
                1,
                200,
                "rules",
            )? as usize,
            webhook_url: validate_webhook(raw.notify_webhook_url.as_deref())?,
            queue_len: in_range(
                "notify_queue_len",
                raw.notify_queue_len,
                1,
                100_000,
                "events",
            )? as usize,
            lease_ttl: Duration::from_millis(lease_ttl),
            lease_renew: Duration::from_millis(lease_renew),
        };
        Ok(Self {
            listen,
            data_dir: raw.data_dir,
            token_ttl: Duration::from_secs(token_ttl),
            connect_timeout: Duration::from_millis(connect),
            statement_timeout: Duration::from_millis(statement),
            verify_timeout: Duration::from_millis(verify),
            kill_connections: kill_connections as usize,
            kill_deadline: Duration::from_millis(kill_deadline),
            kill_user_statement: raw.kill_user_statement,
            reconcile_interval: Duration::from_millis(reconcile),
            rate_limit,
            signatures,
            master_key: raw.master_key.map(SecretString::from),
            master_key_file: raw.master_key_file,
            admin_password: raw.admin_password.map(SecretString::from),
            store,
            replica_name,
            listener,
            rules,
        })
    }
}

/// An absent or empty URL is no webhook; anything else must be http(s). The message never
/// repeats the URL: it is a secret.
fn validate_webhook(url: Option<&str>) -> Result<Option<SecretString>, ConfigError> {
    match url.map(str::trim) {
        None | Some("") => Ok(None),
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
            Ok(Some(SecretString::from(u.to_owned())))
        }
        Some(_) => Err(ConfigError::Invalid {
            key: "notify_webhook_url",
            why: "must be an http:// or https:// URL".into(),
        }),
    }
}

/// The listener block of the settings: connection caps, timeouts and the TLS files.
fn validate_listener(raw: &RawSettings) -> Result<ListenerSettings, ConfigError> {
    let in_range = |key: &'static str, v: u64, lo: u64, hi: u64, unit: &str| {
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(ConfigError::Invalid {
                key,
                why: format!("{v} is outside {lo}..={hi} {unit}"),
            })
        }
    };
    let ms = |key: &'static str, v: u64, lo: u64, hi: u64| {
        in_range(key, v, lo, hi, "ms").map(Duration::from_millis)
    };
    let tls = match (&raw.tls_cert, &raw.tls_key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        (cert, _) => {
            let (key, other) = if cert.is_some() {
                ("tls_key", "tls_cert")
            } else {
                ("tls_cert", "tls_key")
            };
            return Err(ConfigError::Invalid {
                key,
                why: format!(
                    "{other} is set, so {key} must be too (--tls-cert and --tls-key, or \
                     DBKILL_TLS_CERT and DBKILL_TLS_KEY, go together)"
                ),
            });
        }
    };
    Ok(ListenerSettings {
        max_connections: in_range(
            "max_connections",
            raw.max_connections,
            1,
            1_000_000,
            "connections",
        )? as usize,
        max_requests_per_client: in_range(
            "max_requests_per_client",
            raw.max_requests_per_client,
            1,
            1_000_000,
            "requests",
        )? as usize,
        header_read_timeout: ms(
            "header_read_timeout_ms",
            raw.header_read_timeout_ms,
            100,
            120_000,
        )?,
        body_read_timeout: ms(
            "body_read_timeout_ms",
            raw.body_read_timeout_ms,
            100,
            600_000,
        )?,
        keep_alive_timeout: ms(
            "keep_alive_timeout_ms",
            raw.keep_alive_timeout_ms,
            100,
            3_600_000,
        )?,
        tls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let s = Settings::validate(RawSettings::default()).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.token_ttl, Duration::from_secs(86_400));
        assert_eq!(s.connect_timeout, Duration::from_secs(5));
        assert!(!s.kill_user_statement, "per-id batches unless asked");
        assert_eq!(s.reconcile_interval, Duration::from_secs(5));
    }

    #[test]
    fn signature_settings_default_to_a_five_minute_window_and_are_bounded() {
        let s = Settings::validate(RawSettings::default()).unwrap();
        assert_eq!(
            s.signatures,
            SignaturePolicy {
                max_skew_secs: 300,
                replay_cache_entries: 100_000,
                unsigned_payload: true,
                single_use_reads: false,
            }
        );
        for (skew, entries, key) in [
            (29, 1, "signature_max_skew_secs"),
            (901, 1, "signature_max_skew_secs"),
            (300, 0, "signature_replay_cache_entries"),
            (300, 10_000_001, "signature_replay_cache_entries"),
        ] {
            let raw = RawSettings {
                signature_max_skew_secs: skew,
                signature_replay_cache_entries: entries,
                ..Default::default()
            };
            let err = Settings::validate(raw).unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
    }

    #[test]
    fn bad_values_name_the_setting() {
        let raw = RawSettings {
            listen: "nowhere".into(),
            ..Default::default()
        };
        let err = Settings::validate(raw).unwrap_err().to_string();
        assert!(
            err.contains("listen") && err.contains("DBKILL_LISTEN"),
            "{err}"
        );

        let raw = RawSettings {
            token_ttl: 0,
            ..Default::default()
        };
        assert!(
            Settings::validate(raw)
                .unwrap_err()
                .to_string()
                .contains("token_ttl")
        );

        for bad in [99, 600_001] {
            let raw = RawSettings {
                reconcile_interval_ms: bad,
                ..Default::default()
            };
            let err = Settings::validate(raw).unwrap_err().to_string();
            assert!(err.contains("reconcile_interval_ms"), "{err}");
        }

        let raw = RawSettings {
            master_key: Some("11".repeat(32)),
            master_key_file: Some("/run/secrets/dbkill".into()),
            ..Default::default()
        };
        let err = Settings::validate(raw).unwrap_err().to_string();
        assert!(err.contains("not both"), "{err}");

        let raw = RawSettings {
            admin_password: Some("short".into()),
            ..Default::default()
        };
        assert!(
            Settings::validate(raw)
                .unwrap_err()
                .to_string()
                .contains("admin_password")
        );
    }

    #[test]
    fn listener_defaults_bound_every_connection() {
        let l = Settings::validate(RawSettings::default()).unwrap().listener;
        assert!(l.header_read_timeout <= Duration::from_secs(30));
        assert_eq!(l.keep_alive_timeout, Duration::from_secs(30));
        assert_eq!(l.body_read_timeout, Duration::from_secs(30));
        assert_eq!(l.max_connections, 4_096);
        assert_eq!(l.tls, None);
    }

    #[test]
    fn tls_cert_and_key_go_together() {
        let raw = RawSettings {
            tls_cert: Some("cert.pem".into()),
            ..Default::default()
        };
        let err = Settings::validate(raw).unwrap_err().to_string();
        assert!(
            err.contains("tls_key") && err.contains("--tls-key"),
            "{err}"
        );
        let raw = RawSettings {
            header_read_timeout_ms: 0,
            ..Default::default()
        };
        let err = Settings::validate(raw).unwrap_err().to_string();
        assert!(err.contains("header_read_timeout_ms"), "{err}");
    }

    #[test]
    fn file_then_flags_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dbkill.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9999\"\ntoken_ttl = 60\n").unwrap();
        let s = Settings::load(Some(&file), FlagOverrides::default()).unwrap();
        assert_eq!(s.listen.port(), 9999);
        assert_eq!(s.token_ttl, Duration::from_secs(60));
        let flags = FlagOverrides {
            listen: Some("127.0.0.1:7777".into()),
            ..FlagOverrides::default()
        };
        let s = Settings::load(Some(&file), flags).unwrap();
        assert_eq!(s.listen.port(), 7777);
        assert!(
            Settings::load(
                Some(&dir.path().join("missing.toml")),
                FlagOverrides::default()
            )
            .is_err()
        );
    }
}
