//! Requests signed with `SDK-HMAC-SHA256` as the official SDKs sign them: access keys, the
//! `X-Sdk-Date` of a moment, and a signed request kept whole so that a test can tamper with it
//! or send it again verbatim (a replay).

use reqwest::{Method, StatusCode};
use serde_json::json;
use time::OffsetDateTime;
use time::macros::format_description;

use super::app::{Resp, TestApp};

/// `X-Sdk-Date` for now plus `offset_secs`.
pub fn sdk_date(offset_secs: i64) -> String {
    let t = OffsetDateTime::now_utc() + time::Duration::seconds(offset_secs);
    t.format(format_description!(
        "[year][month][day]T[hour][minute][second]Z"
    ))
    .unwrap()
}

pub struct AccessKey {
    pub access: String,
    pub secret: String,
}

/// Creates an access key for `user_id` with `token`.
pub async fn access_key(app: &TestApp, token: &str, user_id: &str) -> AccessKey {
    let r = app
        .call(
            Method::POST,
            "/v3.0/OS-CREDENTIAL/credentials",
            token,
            Some(json!({"credential": {"user_id": user_id, "description": "sdk"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let c = &r.body["credential"];
    assert_eq!(c["status"], "active");
    assert_eq!(c["user_id"], user_id);
    AccessKey {
        access: c["access"].as_str().unwrap().into(),
        secret: c["secret"].as_str().unwrap().into(),
    }
}

/// What to sign. The signed headers are those the Python SDK sends: content-type, host,
/// x-sdk-date, x-project-id when set, and x-sdk-content-sha256 for an unsigned payload.
pub struct ToSign<'a> {
    pub method: Method,
    pub path: &'a str,
    pub query: &'a str,
    pub body: Vec<u8>,
    pub project_header: Option<&'a str>,
    pub date: String,
    /// Send `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD`: the body is left out of the signature.
    pub unsigned_payload: bool,
}

impl<'a> ToSign<'a> {
    /// A request dated now, with the project header, its body signed.
    pub fn new(method: Method, path: &'a str, project: &'a str, body: Vec<u8>) -> Self {
        Self {
            method,
            path,
            query: "",
            body,
            project_header: Some(project),
            date: sdk_date(0),
            unsigned_payload: false,
        }
    }
}

/// A signed request as it goes on the wire; `body` may be changed after signing.
#[derive(Clone)]
pub struct SignedCall {
    pub method: Method,
    /// Path and query.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Signs `req` with `key` for `app`'s host.
pub fn sign(app: &TestApp, key: &AccessKey, req: ToSign<'_>) -> SignedCall {
    let host = app.base.trim_start_matches("http://").to_owned();
    let mut names = vec!["content-type", "host", "x-sdk-date"];
    if req.project_header.is_some() {
        names.push("x-project-id");
    }
    if req.unsigned_payload {
        names.push("x-sdk-content-sha256");
    }
    names.sort_unstable();
    let values = |name: &str| -> Option<String> {
        match name {
            "content-type" => Some("application/json".into()),
            "host" => Some(host.clone()),
            "x-sdk-date" => Some(req.date.clone()),
            "x-project-id" => req.project_header.map(str::to_owned),
            "x-sdk-content-sha256" if req.unsigned_payload => Some("UNSIGNED-PAYLOAD".into()),
            _ => None,
        }
    };
    let signed_names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let payload = if req.unsigned_payload {
        dbkill::signing::PayloadHash::Unsigned
    } else {
        dbkill::signing::PayloadHash::of(&req.body)
    };
    let to_sign = dbkill::signing::SignedRequest {
        method: req.method.as_str(),
        path: req.path,
        query: req.query,
        header: &values,
        payload,
    };
    let sts = dbkill::signing::string_to_sign(
        &req.date,
        &dbkill::signing::canonical_request(&to_sign, &signed_names),
    );
    let signature = dbkill::signing::sign(&key.secret, &sts);
    let mut headers = vec![
        (
            "Authorization".to_owned(),
            format!(
                "SDK-HMAC-SHA256 Access={}, SignedHeaders={}, Signature={signature}",
                key.access,
                signed_names.join(";")
            ),
        ),
        ("X-Sdk-Date".to_owned(), req.date.clone()),
    ];
    if let Some(p) = req.project_header {
        headers.push(("X-Project-Id".to_owned(), p.to_owned()));
    }
    if req.unsigned_payload {
        headers.push((
            "X-Sdk-Content-Sha256".to_owned(),
            "UNSIGNED-PAYLOAD".to_owned(),
        ));
    }
    SignedCall {
        url: if req.query.is_empty() {
            req.path.to_owned()
        } else {
            format!("{}?{}", req.path, req.query)
        },
        method: req.method,
        headers,
        body: req.body,
    }
}

impl SignedCall {
    /// Sends the request as it is (again, for a replay). The body goes even when empty, so that
    /// the signed `Content-Type` is sent.
    pub async fn send(&self, app: &TestApp) -> Resp {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        app.raw_request(
            self.method.clone(),
            &self.url,
            None,
            &headers,
            Some(self.body.clone()),
        )
        .await
    }
}
