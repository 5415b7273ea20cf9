//! CancelInstanceProcess (`POST …/kill-process`) in DAS's shape: `{"engine_type", "processes":
//! [{"id", "user"}]}` → `{"count"}`. Each listed session whose id and user both match is
//! killed as KillSession would kill it (protections, intent, history), as the instance's
//! default db user; `service::kill_process` does the work.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;
use utoipa::ToSchema;

use super::AppState;
use super::access::InstancePath;
use super::extract::JsonObject;
use super::openapi::{CallerErrors, shapes};
use crate::domain::{DbUserDatastore, Principal, Role, SessionId};
use crate::error::{DasError, DasResult, Problem};
use crate::service::{KillProcessOrigin, ProcessPair};

/// Most sessions one request may name: each distinct user among them is one KillSession.
pub const MAX_PROCESSES: usize = 1000;

/// One session to kill: both must match.
#[derive(ToSchema, Debug, PartialEq, Eq)]
pub struct ProcessPairIn {
    /// The session id (MySQL thread id, PostgreSQL pid).
    #[schema(value_type = i64, minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub id: SessionId,
    #[schema(min_length = 1)]
    pub user: String,
}

/// The body of CancelInstanceProcess, as parsed. Unknown fields are ignored.
#[derive(ToSchema, Debug)]
pub struct KillProcessIn {
    /// `mysql` (MySQL and MariaDB instances) or `postgresql`, any case; it must fit the
    /// instance (DAS.200107).
    #[schema(schema_with = shapes::engine_type)]
    pub engine_type: DbUserDatastore,
    #[schema(min_items = 1, max_items = 1000)]
    pub processes: Vec<ProcessPairIn>,
}

impl KillProcessIn {
    fn pairs(&self) -> Vec<ProcessPair> {
        self.processes
            .iter()
            .map(|p| ProcessPair {
                id: p.id,
                user: p.user.clone(),
            })
            .collect()
    }
}

#[derive(Serialize, ToSchema)]
pub struct KillProcessOut {
    /// Sessions killed.
    pub count: usize,
}

fn process(i: usize, item: &Value) -> DasResult<ProcessPairIn> {
    let field = |name: &str| format!("processes[{i}].{name}");
    let Value::Object(map) = item else {
        return Err(DasError::bad(
            format!("processes[{i}]"),
            Problem::NotA("object"),
        ));
    };
    let id = JsonObject(map.clone())
        .int_opt("id", 0, i64::MAX)
        .map_err(|e| match e {
            DasError::BadParam { problem, .. } => DasError::bad(field("id"), problem),
            other => other,
        })?
        .ok_or_else(|| DasError::bad(field("id"), Problem::Missing))?;
    let user = match map.get("user") {
        Some(Value::String(u)) if !u.is_empty() => u.clone(),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            return Err(DasError::bad(field("user"), Problem::Missing));
        }
        Some(_) => return Err(DasError::bad(field("user"), Problem::NotA("string"))),
    };
    Ok(ProcessPairIn {
        // 0..=i64::MAX fits.
        id: SessionId(id as u64),
        user,
    })
}

fn parse(body: &JsonObject) -> DasResult<KillProcessIn> {
    let engine = body.str_req("engine_type")?;
    let engine = DbUserDatastore::parse(&engine).ok_or(DasError::UnsupportedEngineType)?;
    let items = match body.0.get("processes") {
        None | Some(Value::Null) => return Err(DasError::bad("processes", Problem::Missing)),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(DasError::bad(
                "processes",
                Problem::NotA("array of objects"),
            ));
        }
    };
    if items.is_empty() || items.len() > MAX_PROCESSES {
        let length = Problem::Length {
            min: 1,
            max: MAX_PROCESSES,
        };
        return Err(DasError::bad("processes", length));
    }
    let processes = items
        .iter()
        .enumerate()
        .map(|(i, item)| process(i, item))
        .collect::<DasResult<Vec<_>>>()?;
    Ok(KillProcessIn {
        engine_type: engine,
        processes,
    })
}

/// `POST /v3/{project_id}/instances/{instance_id}/kill-process` (operator):
/// CancelInstanceProcess, as the instance's default db user; on every engine.
#[utoipa::path(post, path = "/v3/{project_id}/instances/{instance_id}/kill-process", tag = "sessions",
    request_body = KillProcessIn, params(InstancePath), responses((status = 200, body = KillProcessOut), CallerErrors))]
pub async fn kill_process(
    caller: Principal,
    State(state): State<AppState>,
    path: InstancePath,
    headers: HeaderMap,
    body: Body,
) -> DasResult<Json<KillProcessOut>> {
    let access = path.access(&state, &caller, Role::Operator).await?;
    let input = parse(&JsonObject::read(body).await?)?;
    let (engine, pairs) = (input.engine_type, input.pairs());
    let origin = KillProcessOrigin {
        request_id: super::extract::report_request_id(&headers),
        source: caller.source(),
    };
    // Its own task: a client that hangs up must not stop a kill halfway.
    let services = state.services.clone();
    let kill = async move {
        services
            .kill_process_pairs(&access, engine, &pairs, origin)
            .await
    };
    let count = tokio::spawn(kill.in_current_span())
        .await
        .map_err(DasError::internal)??;
    Ok(Json(KillProcessOut { count }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parsed(body: Value) -> DasResult<(DbUserDatastore, Vec<ProcessPair>)> {
        parse(&JsonObject(body.as_object().unwrap().clone())).map(|i| (i.engine_type, i.pairs()))
    }

    #[test]
    fn pairs_parse_and_unknown_fields_are_ignored() {
        let (engine, pairs) = parsed(json!({"engine_type": "MySQL", "node_id": "x",
            "processes": [{"id": 7, "user": "app", "extra": 1}, {"id": 8.0, "user": "bi"}]}))
        .unwrap();
        assert!(engine.fits(crate::domain::DatastoreType::Mariadb));
        assert_eq!(
            pairs,
            [
                ProcessPair {
                    id: SessionId(7),
                    user: "app".into()
                },
                ProcessPair {
                    id: SessionId(8),
                    user: "bi".into()
                }
            ]
        );
    }

    #[test]
    fn an_integral_float_id_is_read_exactly_however_large() {
        // serde_json's fast float parsing could land one step off: 2251799813685247.0 was read
        // as 2251799813685247.25 and refused as not an integer (found by the fuzzer). Floats
        // are parsed exactly (serde_json's float_roundtrip).
        let body = r#"{"engine_type": "mysql", "processes": [
            {"id": 2251799813685247.0, "user": "u"}, {"id": 9007199254740992.0, "user": "u"},
            {"id": 4503599627370495.5, "user": "u"}]}"#;
        let exact = r#"{"engine_type": "mysql", "processes": [
            {"id": 2251799813685247.0, "user": "u"}, {"id": 9007199254740992.0, "user": "u"}]}"#;
        let (_, pairs) = parsed(serde_json::from_str(exact).unwrap()).unwrap();
        assert_eq!(
            pairs.iter().map(|p| p.id).collect::<Vec<_>>(),
            [
                SessionId(2_251_799_813_685_247),
                SessionId(9_007_199_254_740_992)
            ]
        );
        assert_eq!(
            parsed(serde_json::from_str(body).unwrap()).unwrap_err(),
            DasError::bad("processes[2].id", Problem::NotA("integer"))
        );
    }

    #[test]
    fn bad_bodies_name_the_field() {
        let err = |body: Value| parsed(body).unwrap_err();
        let ok = json!([{"id": 1, "user": "u"}]);
        assert_eq!(
            err(json!({"processes": ok})),
            DasError::bad("engine_type", Problem::Missing)
        );
        assert_eq!(
            err(json!({"engine_type": "oracle", "processes": ok})),
            DasError::UnsupportedEngineType
        );
        let bad = |processes: Value, field: &str| {
            let e = err(json!({"engine_type": "postgresql", "processes": processes}));
            assert_eq!(e.code(), "DAS.200100", "{e:?}");
            match e {
                DasError::BadParam { field: f, .. } => assert_eq!(f, field),
                other => panic!("{other:?}"),
            }
        };
        bad(json!(null), "processes");
        bad(json!([]), "processes");
        bad(json!("1"), "processes");
        bad(json!([1]), "processes[0]");
        bad(
            json!([{"id": 1, "user": "u"}, {"id": "2", "user": "u"}]),
            "processes[1].id",
        );
        bad(json!([{"id": -1, "user": "u"}]), "processes[0].id");
        bad(json!([{"id": 1.5, "user": "u"}]), "processes[0].id");
        bad(json!([{"user": "u"}]), "processes[0].id");
        bad(json!([{"id": 1}]), "processes[0].user");
        bad(json!([{"id": 1, "user": ""}]), "processes[0].user");
        bad(json!([{"id": 1, "user": 5}]), "processes[0].user");
        let many: Vec<Value> = (0..=MAX_PROCESSES)
            .map(|i| json!({"id": i, "user": "u"}))
            .collect();
        bad(json!(many), "processes");
    }
}
