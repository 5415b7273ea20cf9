//! `/openapi.json`: the contract as OpenAPI 3.1. Its operations come from the same list of
//! annotated handlers that builds the router (`http::routes`, through utoipa-axum), so a route
//! cannot be served undescribed or described unserved. This module adds what the handlers do
//! not say: the title, the credentials, the shapes of ids (`params`) and the error answers
//! (`responses`).

mod params;
mod responses;
pub mod shapes;

use std::sync::Arc;

use axum::Extension;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};

pub use params::{
    AccessKeyPath, DbUserFilterQuery, DbUserQuery, RoleBindingPath, UserFilterQuery, path_enum,
};
pub use responses::{CallerErrors, ConsoleFileErrors, HealthErrors, OpenErrors};

use super::error::ErrorBody;

/// The document's frame; `http::routes` adds the operations.
#[derive(OpenApi)]
#[openapi(
    info(title = "dbkill", description = "Kill MySQL-family sessions by user, database or id; the Huawei Cloud DAS v3 session API."),
    components(schemas(ErrorBody)),
    modifiers(&Credentials),
    security(("token" = []), ("signature" = []))
)]
pub struct ApiDoc;

/// Either credential works on every route that is not open; open routes say `security(())`.
struct Credentials;

impl utoipa::Modify for Credentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Auth-Token",
                "A token from POST /v3/auth/tokens (its X-Subject-Token header).",
            ))),
        );
        components.add_security_scheme(
            "signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "An SDK-HMAC-SHA256 signature made with an access key (POST \
                 /v3.0/OS-CREDENTIAL/credentials), as the official Huawei Cloud SDKs sign.",
            ))),
        );
    }
}

/// The served document, serialised once when the router is built.
#[derive(Clone)]
pub struct Description(Arc<str>);

impl Description {
    pub fn new(openapi: &utoipa::openapi::OpenApi) -> Self {
        let mut doc = serde_json::to_value(openapi).expect("an OpenAPI document always serialises");
        allow_empty_optional_queries(&mut doc);
        Self(doc.to_string().into())
    }
}

/// Every handler reads its query through `extract::query_str`, for which an empty value is an
/// absent one; OpenAPI says that with `allowEmptyValue`, which utoipa cannot emit.
fn allow_empty_optional_queries(doc: &mut serde_json::Value) {
    let operations = doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let parameters = operation
            .get_mut("parameters")
            .and_then(serde_json::Value::as_array_mut);
        for parameter in parameters.into_iter().flatten() {
            if parameter["in"] == "query" && parameter["required"] != true {
                parameter["allowEmptyValue"] = true.into();
            }
        }
    }
}

/// This contract as OpenAPI 3.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", security(()),
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json", body = Object),
              OpenErrors))]
pub async fn openapi_json(
    Extension(Description(json)): Extension<Description>,
) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        json.to_string(),
    )
}
