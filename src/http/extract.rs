//! Request parsing into domain types, with the DAS code of each parameter. DAS bodies are read
//! field by field from a JSON object, so unknown fields are ignored, `null` and `""` count as
//! absent, and a wrong type names the field.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::domain::{DbUserId, InstanceId, ProjectId};
use crate::error::{DasError, DasResult, Problem, Rejection};
use crate::store::Page;

pub const BODY_LIMIT: usize = 1024 * 1024;
/// Oversized bodies are read this far and discarded, so the client sees the 400 instead of a reset.
pub const DRAIN_LIMIT: usize = 8 * 1024 * 1024;

pub async fn read_body(body: Body) -> DasResult<Vec<u8>> {
    let mut body = body;
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| body_error(&e))?;
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen > BODY_LIMIT {
                if seen > DRAIN_LIMIT {
                    break;
                }
                continue;
            }
            buf.extend_from_slice(&data);
        }
    }
    if seen > BODY_LIMIT {
        return Err(DasError::BodyTooLarge);
    }
    Ok(buf)
}

/// A body that could not be read: too slow (the serve loop's `body_read_timeout`, found
/// anywhere in the error's chain: layers such as a length limit wrap it), or cut off.
pub fn body_error(e: &(dyn std::error::Error + 'static)) -> DasError {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.is::<tower_http::timeout::TimeoutError>() {
            return DasError::Rejected(Rejection::BodyTimeout);
        }
        cause = c.source();
    }
    DasError::MalformedJson("the body could not be read".into())
}

/// A JSON object body; an empty body counts as `{}`.
pub struct JsonObject(pub Map<String, Value>);

impl JsonObject {
    pub async fn read(body: Body) -> DasResult<Self> {
        let bytes = read_body(body).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(Map::new()));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(DasError::MalformedJson("expected a JSON object".into())),
            Err(e) => Err(DasError::MalformedJson(format!(
                "line {} column {}",
                e.line(),
                e.column()
            ))),
        }
    }

    /// The nested object under `key` (e.g. `{"project": {...}}`), required.
    pub fn object(&self, key: &str) -> DasResult<JsonObject> {
        match self.0.get(key) {
            Some(Value::Object(m)) => Ok(JsonObject(m.clone())),
            None | Some(Value::Null) => Err(DasError::bad(key, Problem::Missing)),
            Some(_) => Err(DasError::bad(key, Problem::NotA("object"))),
        }
    }

    pub fn object_opt(&self, key: &str) -> DasResult<Option<JsonObject>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            _ => self.object(key).map(Some),
        }
    }

    /// A string, `None` for absent, `null` or `""`.
    pub fn str_opt(&self, key: &str) -> DasResult<Option<String>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(DasError::bad(key, Problem::NotA("string"))),
        }
    }

    pub fn str_req(&self, key: &str) -> DasResult<String> {
        self.str_opt(key)?
            .ok_or_else(|| DasError::bad(key, Problem::Missing))
    }

    pub fn bool_opt(&self, key: &str) -> DasResult<Option<bool>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(DasError::bad(key, Problem::NotA("boolean"))),
        }
    }

    /// An integer in `min..=max`. As in JSON Schema, a number without a fractional part is an
    /// integer, so `100.0` is 100.
    pub fn int_opt(&self, key: &str, min: i64, max: i64) -> DasResult<Option<i64>> {
        let n = match self.0.get(key) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(n)) => n,
            Some(_) => return Err(DasError::bad(key, Problem::NotA("integer"))),
        };
        // 2^63: `i64::MAX as f64` rounds up to it, and a cast from it saturates to i64::MAX.
        const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
        let value = match (n.as_i64(), n.as_f64()) {
            (Some(v), _) => v,
            // An integer beyond i64 (serde_json keeps it as a u64) is beyond every range.
            (None, _) if n.is_u64() => return Err(DasError::bad(key, Problem::Range { min, max })),
            (None, Some(f)) if f.fract() != 0.0 => {
                return Err(DasError::bad(key, Problem::NotA("integer")));
            }
            // Out of range as a float is out of range as an integer; in range, the cast is exact
            // enough to compare (the bounds used are far below 2^53), and never saturates.
            (None, Some(f)) if (min as f64..=max as f64).contains(&f) && f < TWO_POW_63 => f as i64,
            _ => return Err(DasError::bad(key, Problem::Range { min, max })),
        };
        if (min..=max).contains(&value) {
            Ok(Some(value))
        } else {
            Err(DasError::bad(key, Problem::Range { min, max }))
        }
    }

    /// An array of strings; `None` for absent, `null` or `[]`.
    pub fn str_array_opt(&self, key: &str) -> DasResult<Option<Vec<String>>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) if items.is_empty() => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(DasError::bad(
                        format!("{key}[{i}]"),
                        Problem::NotA("string"),
                    )),
                })
                .collect::<DasResult<Vec<_>>>()
                .map(Some),
            Some(_) => Err(DasError::bad(key, Problem::NotA("array of strings"))),
        }
    }

    /// For our own (non-DAS) bodies: refuse fields we do not know, so typos are not ignored.
    pub fn deny_unknown(&self, known: &[&str]) -> DasResult<()> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(DasError::bad(
                truncate(k, 64),
                Problem::Invalid("unknown field".into()),
            )),
            None => Ok(()),
        }
    }
}

pub fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// Checks a string's length in characters.
pub fn check_len(field: &str, value: &str, min: usize, max: usize) -> DasResult<()> {
    let n = value.chars().count();
    if (min..=max).contains(&n) && !value.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(DasError::bad(field, Problem::Length { min, max }))
    }
}

pub type QueryMap = HashMap<String, String>;

/// Path parameters; a path that does not decode is a generic parameter error, never axum's text.
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = DasError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, DasError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| PathParams(t))
            .map_err(|_| DasError::bad("path", Problem::Invalid("not decodable".into())))
    }
}

/// The query string as a map; unknown keys are kept and ignored by handlers. A key given twice
/// is refused: which of its values a client meant cannot be known.
pub struct QueryParams(pub QueryMap);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = DasError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, DasError> {
        let raw = parts.uri.query().unwrap_or("");
        let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(raw)
            .map_err(|_| DasError::bad("query", Problem::Invalid("not decodable".into())))?;
        let mut map = QueryMap::with_capacity(pairs.len());
        for (key, value) in pairs {
            if map.contains_key(&key) {
                let problem = Problem::Invalid("given more than once".into());
                return Err(DasError::bad(truncate(&key, 64), problem));
            }
            map.insert(key, value);
        }
        Ok(QueryParams(map))
    }
}

/// A query value, `None` when absent or empty (an empty value counts as absent, as in DAS bodies;
/// /openapi.json says so with `allowEmptyValue` on every optional query parameter).
pub fn query_str<'a>(q: &'a QueryMap, key: &str) -> Option<&'a str> {
    q.get(key).map(String::as_str).filter(|s| !s.is_empty())
}

/// `offset` / `limit` as DAS defines them: offset 0..2^31-1; limit `1..=max_limit`.
pub fn page(q: &QueryMap, default_limit: i64, max_limit: i64) -> DasResult<Page> {
    let parse = |key: &str, min: i64, max: i64, err: DasError| match query_str(q, key) {
        None => Ok(None),
        Some(s) => match s.parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => Ok(Some(v)),
            _ => Err(err),
        },
    };
    let offset = parse("offset", 0, i64::from(i32::MAX), DasError::BadOffset)?.unwrap_or(0);
    let limit = parse("limit", 1, max_limit, DasError::BadLimit)?.unwrap_or(default_limit);
    Ok(Page { offset, limit })
}

pub fn project_id(s: &str) -> DasResult<ProjectId> {
    ProjectId::parse(s).ok_or(DasError::BadProjectId)
}

pub fn instance_id(s: &str) -> DasResult<InstanceId> {
    InstanceId::parse(s).ok_or(DasError::BadInstanceId)
}

pub fn db_user_id(s: &str) -> DasResult<DbUserId> {
    DbUserId::parse(s).ok_or(DasError::BadDbUserId)
}

/// The request's `X-Request-Id` (the request-id layer sets one on every request), or `-` for a
/// client's own id that is not visible ASCII.
pub fn request_id(headers: &axum::http::HeaderMap) -> &str {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
}

/// The request id a kill report carries: the request's, or a fresh one where it has none.
pub fn report_request_id(headers: &axum::http::HeaderMap) -> String {
    match request_id(headers) {
        "-" => uuid::Uuid::new_v4().to_string(),
        id => id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> JsonObject {
        JsonObject(v.as_object().unwrap().clone())
    }

    #[test]
    fn empty_and_null_count_as_absent() {
        let o = obj(serde_json::json!({"a": "", "b": null, "c": [], "d": "x", "n": 3}));
        assert_eq!(o.str_opt("a").unwrap(), None);
        assert_eq!(o.str_opt("b").unwrap(), None);
        assert_eq!(o.str_array_opt("c").unwrap(), None);
        assert_eq!(o.str_opt("d").unwrap().as_deref(), Some("x"));
        assert!(o.str_opt("n").is_err());
        assert!(o.str_req("a").is_err());
        assert!(o.deny_unknown(&["a", "b", "c", "d"]).is_err());
    }

    #[test]
    fn integers_may_be_written_with_a_zero_fraction() {
        let o = obj(serde_json::json!({"a": 2990.0, "b": 1.5, "c": 1e300, "d": -0.0, "e": "7"}));
        assert_eq!(o.int_opt("a", 100, 600_000).unwrap(), Some(2990));
        assert_eq!(
            o.int_opt("b", 0, 10),
            Err(DasError::bad("b", Problem::NotA("integer")))
        );
        assert_eq!(
            o.int_opt("c", 0, 10),
            Err(DasError::bad("c", Problem::Range { min: 0, max: 10 }))
        );
        assert_eq!(o.int_opt("d", 0, 10).unwrap(), Some(0));
        assert_eq!(
            o.int_opt("e", 0, 10),
            Err(DasError::bad("e", Problem::NotA("integer")))
        );
    }

    #[test]
    fn integers_beyond_i64_are_out_of_range_not_saturated() {
        let o = obj(serde_json::json!({"u": 9_223_372_036_854_775_808_u64,
                                       "f": 9_223_372_036_854_775_808.0_f64}));
        for key in ["u", "f"] {
            assert_eq!(
                o.int_opt(key, 0, i64::MAX),
                Err(DasError::bad(
                    key,
                    Problem::Range {
                        min: 0,
                        max: i64::MAX
                    }
                ))
            );
        }
    }

    #[test]
    fn array_items_are_typed() {
        let o = obj(serde_json::json!({"p": ["1", 2]}));
        let err = o.str_array_opt("p").unwrap_err();
        assert_eq!(err, DasError::bad("p[1]", Problem::NotA("string")));
    }

    #[test]
    fn paging_bounds() {
        let q: QueryMap = [("offset".to_string(), "-1".to_string())].into();
        assert_eq!(page(&q, 20, 100), Err(DasError::BadOffset));
        let q: QueryMap = [("limit".to_string(), "101".to_string())].into();
        assert_eq!(page(&q, 20, 100), Err(DasError::BadLimit));
        let q: QueryMap = [("limit".to_string(), "".to_string())].into();
        assert_eq!(
            page(&q, 20, 100).unwrap(),
            Page {
                offset: 0,
                limit: 20
            }
        );
    }

    async fn query(uri: &str) -> Result<QueryMap, DasError> {
        let (mut parts, ()) = axum::http::Request::get(uri).body(()).unwrap().into_parts();
        QueryParams::from_request_parts(&mut parts, &())
            .await
            .map(|QueryParams(q)| q)
    }

    #[tokio::test]
    async fn a_query_parameter_given_twice_is_refused() {
        assert_eq!(
            query("/x?page_size=7&page_size=").await,
            Err(DasError::bad(
                "page_size",
                Problem::Invalid("given more than once".into())
            ))
        );
        let once = query("/x?page_size=7&limit=").await.unwrap();
        assert_eq!(once["page_size"], "7");
        assert_eq!(query_str(&once, "limit"), None);
    }

    #[tokio::test]
    async fn oversized_bodies_are_refused() {
        let big = vec![b' '; BODY_LIMIT + 1];
        assert_eq!(
            read_body(Body::from(big)).await,
            Err(DasError::BodyTooLarge)
        );
        let ok = vec![b' '; BODY_LIMIT];
        assert!(read_body(Body::from(ok)).await.is_ok());
    }
}
