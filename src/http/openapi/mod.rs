//! `/openapi.json`, generated from the handlers' annotations.

use axum::Json;
use utoipa::OpenApi;

use super::{
    credentials, db_users, error, history, instances, kill, ops, processes, projects, roles, tokens,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "dbkill", description = "Kill MySQL-family sessions by user, database or id; the Huawei Cloud DAS v3 session API."),
    paths(
        tokens::create_token, tokens::revoke_token, projects::create_project, projects::list_projects,
        projects::create_user, roles::bind_role, roles::unbind_role,
        credentials::create_credential, credentials::list_credentials, credentials::delete_credential,
        instances::create_instance, instances::list_instances, instances::get_instance, instances::update_instance,
        instances::delete_instance,
        db_users::register_db_user, db_users::list_db_users, db_users::get_db_user, db_users::update_db_user,
        db_users::delete_db_user,
        processes::list_processes_handler, kill::kill_sessions_handler, history::kill_history,
        ops::healthz, ops::metrics, openapi_json,
    ),
    components(schemas(error::ErrorBody)),
    modifiers(&TokenAuth),
    security(("token" = []))
)]
pub struct ApiDoc;

struct TokenAuth;

impl utoipa::Modify for TokenAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Auth-Token"))),
        );
    }
}

/// This contract as OpenAPI 3.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3 document")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
