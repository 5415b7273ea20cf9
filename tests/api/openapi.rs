//! `/openapi.json` against the running router: every documented operation is served, no other
//! method is on a documented path, each operation asks for the credentials the server enforces,
//! and every answer an operation can give is described with the error schema.

use regex::Regex;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::app::spawn_app_with;
use crate::helpers::errors::assert_das_error;

/// The routes spec/api.md opens to callers without credentials.
const OPEN: &[(&str, &str)] = &[
    ("post", "/v3/auth/tokens"),
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/console"),
    ("get", "/console/"),
    ("get", "/console/{file}"),
];

/// What any request may be answered, whatever the route (the serve loop's refusals, a bad
/// signature, the rate limits, an internal error).
const ANY_ROUTE: [&str; 7] = ["400", "401", "408", "414", "429", "431", "500"];

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
];

/// `path` with each `{parameter}` replaced by the example the document gives, which must fit the
/// parameter's pattern or enum.
fn concrete(path: &str, parameters: &[Value]) -> String {
    let mut filled = path.to_owned();
    for p in parameters.iter().filter(|p| p["in"] == "path") {
        let name = p["name"].as_str().unwrap();
        let example = p["example"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: {name} has no example"));
        let schema = &p["schema"];
        match (schema["pattern"].as_str(), schema["enum"].as_array()) {
            (Some(pattern), _) => assert!(
                Regex::new(pattern).unwrap().is_match(example),
                "{path}: the example {example} of {name} does not match {pattern}"
            ),
            (None, Some(values)) => assert!(values.iter().any(|v| v == example), "{path}: {name}"),
            (None, None) => panic!("{path}: {name} has neither a pattern nor an enum"),
        }
        filled = filled.replace(&format!("{{{name}}}"), example);
    }
    filled
}

fn is_open(method: &str, path: &str) -> bool {
    OPEN.contains(&(method, path))
}

fn documents_error(operation: &Value, status: &str) -> bool {
    operation["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        == "#/components/schemas/ErrorBody"
}

#[tokio::test]
async fn the_document_describes_exactly_the_routes_and_their_credentials() {
    let app = spawn_app_with(|s| s.rate_limit_per_second = 0).await;
    let doc = app
        .raw_request(Method::GET, "/openapi.json", None, &[], None)
        .await
        .body;
    let global: Vec<&str> = doc["security"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|requirement| requirement.as_object().unwrap().keys())
        .map(String::as_str)
        .collect();
    assert_eq!(global, ["token", "signature"], "{}", doc["security"]);
    let mut open_seen = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let operations = item.as_object().unwrap();
        let parameters = operations
            .values()
            .find_map(|op| op["parameters"].as_array().cloned())
            .unwrap_or_default();
        let url = concrete(path, &parameters);
        for method in METHODS {
            let name = method.as_str().to_ascii_lowercase();
            let what = format!("{name} {path}");
            let answer = app.raw_request(method, &url, None, &[], None).await;
            let Some(operation) = operations.get(&name) else {
                assert_das_error(&answer, 404, "APIGW.0101");
                continue;
            };
            for status in ANY_ROUTE {
                assert!(documents_error(operation, status), "{what} lacks {status}");
            }
            let retry_after = &operation["responses"]["429"]["headers"]["Retry-After"];
            assert_eq!(retry_after["schema"]["type"], "integer", "{what}");
            for p in operation["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "query" && p["required"] != true {
                    assert_eq!(p["allowEmptyValue"], true, "{what}: {}", p["name"]);
                }
            }
            if is_open(&name, path) {
                open_seen.push((name, path.clone()));
                assert_eq!(operation["security"], serde_json::json!([{}]), "{what}");
                assert!(
                    answer.status != StatusCode::UNAUTHORIZED && answer.code() != "APIGW.0101",
                    "{what} without credentials: {} {}",
                    answer.status,
                    answer.text
                );
            } else {
                assert!(
                    operation.get("security").is_none(),
                    "{what} overrides security"
                );
                assert!(documents_error(operation, "403"), "{what} lacks 403");
                assert_das_error(&answer, 401, "APIGW.0301");
            }
        }
    }
    let mut open_expected: Vec<(String, String)> = OPEN
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    open_expected.sort();
    open_seen.sort();
    assert_eq!(open_seen, open_expected);
}
