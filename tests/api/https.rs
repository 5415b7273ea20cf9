//! HTTPS: `dbkill serve` with a self-signed certificate made in the test, run as a child
//! process so it can be sent SIGHUP. A reload is seen by the next handshake while a connection
//! opened before it keeps working; a bad new certificate keeps the old one; a certificate that
//! cannot be used stops the start with a message naming the file; the CLI reaches an HTTPS
//! server through `--ca`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use dbkill::config::{RawSettings, Settings};
use dbkill::startup::Application;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::helpers::app::ADMIN_PASSWORD;
use crate::helpers::raw_http::{addr_of, read_answer};
use crate::helpers::serve::ServeProcess;

/// A self-signed certificate for 127.0.0.1 and localhost.
struct TestCert {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

fn self_signed() -> TestCert {
    let made =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    TestCert {
        cert_pem: made.cert.pem(),
        key_pem: made.signing_key.serialize_pem(),
        der: made.cert.der().clone(),
    }
}

/// Writes the pair where dbkill reads it.
fn install(cert: &TestCert, cert_path: &Path, key_path: &Path) {
    std::fs::write(cert_path, &cert.cert_pem).unwrap();
    std::fs::write(key_path, &cert.key_pem).unwrap();
}

/// A client that trusts only `cert`, with no pooled connections (each request a handshake).
fn trusting(cert: &TestCert) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_der(&cert.der).unwrap()])
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn healthz(client: &reqwest::Client, base: &str) -> Result<u16, String> {
    match client.get(format!("{base}/healthz")).send().await {
        Ok(r) => Ok(r.status().as_u16()),
        Err(e) => Err(format!("{e:?}")),
    }
}

/// A TLS connection of our own, trusting only `cert`, kept open across requests.
async fn tls_connection(base: &str, cert: &TestCert) -> TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(addr_of(base)).await.unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .expect("the handshake succeeds")
}

async fn healthz_on(stream: &mut TlsStream<TcpStream>) -> u16 {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    read_answer(stream, Duration::from_secs(5))
        .await
        .expect("an answer on the open connection")
        .status
}

fn sighup(pid: u32) {
    let ok = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -HUP {pid}");
}

#[tokio::test]
async fn https_serves_and_reloads_its_certificate_on_sighup_without_dropping_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (first, second) = (self_signed(), self_signed());
    install(&first, &cert_path, &key_path);
    let (cert_env, key_env) = (cert_path.to_str().unwrap(), key_path.to_str().unwrap());
    let dbkill = ServeProcess::start(
        &dir.path().join("data"),
        &dir.path().join("serve.log"),
        &[("DBKILL_TLS_CERT", cert_env), ("DBKILL_TLS_KEY", key_env)],
    )
    .await;
    assert!(dbkill.base.starts_with("https://"), "{}", dbkill.base);
    let base = dbkill.base.clone();
    let plain_base = base.replace("https://", "http://");

    assert_eq!(healthz(&trusting(&first), &base).await, Ok(200));
    assert!(
        healthz(&trusting(&first), &plain_base).await.is_err(),
        "plain HTTP is not served on an HTTPS listener"
    );
    let mut opened_before = tls_connection(&base, &first).await;
    assert_eq!(healthz_on(&mut opened_before).await, 200);

    install(&second, &cert_path, &key_path);
    sighup(dbkill.pid());
    dbkill
        .wait_for_log("reloaded the TLS certificate", Duration::from_secs(5))
        .await;
    assert_eq!(
        healthz(&trusting(&second), &base).await,
        Ok(200),
        "a new handshake presents the new certificate"
    );
    assert!(
        healthz(&trusting(&first), &base).await.is_err(),
        "the old certificate is no longer presented"
    );
    assert_eq!(
        healthz_on(&mut opened_before).await,
        200,
        "a connection opened before the reload still works"
    );

    // A key that does not fit: the certificate in use stays, and the log says why.
    std::fs::write(&cert_path, &first.cert_pem).unwrap();
    sighup(dbkill.pid());
    dbkill
        .wait_for_log("kept the TLS certificate in use", Duration::from_secs(5))
        .await;
    assert!(dbkill.log().contains("does not fit"), "{}", dbkill.log());
    assert_eq!(healthz(&trusting(&second), &base).await, Ok(200));
}

/// What `Application::build` says of these TLS files.
async fn start_error(dir: &Path, cert: &Path, key: &Path) -> String {
    let raw = RawSettings {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.join("data"),
        admin_password: Some(ADMIN_PASSWORD.into()),
        tls_cert: Some(cert.to_owned()),
        tls_key: Some(key.to_owned()),
        ..RawSettings::default()
    };
    match Application::build(Settings::validate(raw).unwrap()).await {
        Ok(_) => panic!("dbkill started with {} / {}", cert.display(), key.display()),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn a_certificate_that_cannot_be_used_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (self_signed(), self_signed());
    let path = |name: &str| -> PathBuf { dir.path().join(name) };
    std::fs::write(path("a.pem"), &a.cert_pem).unwrap();
    std::fs::write(path("a.key"), &a.key_pem).unwrap();
    std::fs::write(path("b.key"), &b.key_pem).unwrap();
    std::fs::write(path("junk.pem"), "not a certificate\n").unwrap();

    let missing = start_error(dir.path(), &path("missing.pem"), &path("a.key")).await;
    assert!(
        missing.contains("cannot read the TLS certificate") && missing.contains("missing.pem"),
        "{missing}"
    );
    let mismatched = start_error(dir.path(), &path("a.pem"), &path("b.key")).await;
    assert!(
        mismatched.contains("does not fit") && mismatched.contains("b.key"),
        "{mismatched}"
    );
    let junk = start_error(dir.path(), &path("junk.pem"), &path("a.key")).await;
    assert!(junk.contains("junk.pem"), "{junk}");
    assert!(
        !dir.path().join("data").exists(),
        "nothing was set up before the certificate was checked"
    );
}

#[tokio::test]
async fn the_cli_reaches_an_https_server_through_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let cert = self_signed();
    install(&cert, &cert_path, &key_path);
    let dbkill = ServeProcess::start(
        &dir.path().join("data"),
        &dir.path().join("serve.log"),
        &[
            ("DBKILL_TLS_CERT", cert_path.to_str().unwrap()),
            ("DBKILL_TLS_KEY", key_path.to_str().unwrap()),
        ],
    )
    .await;
    let config = dir.path().join("cli");
    let cli = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbkill"));
        cmd.args(args)
            .env("DBKILL_CONFIG_DIR", &config)
            .env_remove("DBKILL_CA")
            .env("LC_ALL", "C")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        use std::io::Write;
        let _ = writeln!(child.stdin.take().unwrap(), "{ADMIN_PASSWORD}");
        child.wait_with_output().unwrap()
    };
    let login = [
        "login",
        "--server",
        &dbkill.base,
        "--user",
        "admin",
        "--password-stdin",
    ];

    let untrusted = cli(&login);
    assert_eq!(untrusted.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert!(stderr.contains("Cannot reach"), "{stderr}");

    let mut with_ca = login.to_vec();
    with_ca.extend(["--ca", cert_path.to_str().unwrap()]);
    let trusted = cli(&with_ca);
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    // Later commands use the CA kept with the login.
    let later = cli(&["instances", "list", "--project", &"0".repeat(32)]);
    let stderr = String::from_utf8_lossy(&later.stderr);
    assert!(
        later.status.success() || stderr.contains("DAS.") || stderr.contains("APIGW."),
        "the server answered: {stderr}"
    );
}
