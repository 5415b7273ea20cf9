//! The path and query parameters that carry ids, described once with their shapes and an
//! example. The path extractors of `access` document themselves here (`params(InstancePath)`);
//! the routes that parse their paths by hand use the marker types below.

use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};

use super::shapes::{ACCESS_KEY, DB_USER_ID, INSTANCE_ID, PROJECT_ID, ROLES, USER_ID};
use crate::http::access::{DbUserPath, InstancePath, ProjectPath};

/// One string parameter: where it goes, whether it must be there, what it may be.
struct StringParam<'a> {
    name: &'a str,
    location: ParameterIn,
    required: bool,
    schema: ObjectBuilder,
    description: &'a str,
    example: &'a str,
}

impl StringParam<'_> {
    fn build(self) -> Parameter {
        ParameterBuilder::new()
            .name(self.name)
            .parameter_in(self.location)
            .required(if self.required {
                Required::True
            } else {
                Required::False
            })
            .description(Some(self.description))
            .schema(Some(self.schema.schema_type(Type::String)))
            .example(Some(self.example.into()))
            .build()
    }
}

fn matching(pattern: &str) -> ObjectBuilder {
    ObjectBuilder::new().pattern(Some(pattern))
}

/// A path id that must match `pattern`.
fn path_id(name: &str, pattern: &str, description: &str, example: &str) -> Parameter {
    StringParam {
        name,
        location: ParameterIn::Path,
        required: true,
        schema: matching(pattern),
        description,
        example,
    }
    .build()
}

/// An optional query filter.
fn query_filter(name: &str, pattern: &str, description: &str, example: &str) -> Parameter {
    StringParam {
        name,
        location: ParameterIn::Query,
        required: false,
        schema: matching(pattern),
        description,
        example,
    }
    .build()
}

/// A path parameter that takes one of `values`.
pub fn path_enum<'a>(
    name: &str,
    values: impl IntoIterator<Item = &'a str>,
    description: &str,
) -> Parameter {
    let values: Vec<&str> = values.into_iter().collect();
    StringParam {
        name,
        location: ParameterIn::Path,
        required: true,
        schema: ObjectBuilder::new().enum_values(Some(values.clone())),
        description,
        example: values.first().copied().unwrap_or_default(),
    }
    .build()
}

const PROJECT_EXAMPLE: &str = "0b3c6f5d2a8e4f1c9d7a6b5e4c3d2f1a";
const INSTANCE_EXAMPLE: &str = "a1f0c3e5b7d94e2f8c6a4b2d0e9f7c5ain01";
const DB_USER_EXAMPLE: &str = "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
const USER_EXAMPLE: &str = "9e8d7c6b5a4f4e3d2c1b0a9f8e7d6c5b";

fn project_id() -> Parameter {
    path_id(
        "project_id",
        PROJECT_ID,
        "32 lowercase hex",
        PROJECT_EXAMPLE,
    )
}

fn instance_id() -> Parameter {
    path_id(
        "instance_id",
        INSTANCE_ID,
        "32 lowercase hex + in01 (MySQL family) or in03 (PostgreSQL)",
        INSTANCE_EXAMPLE,
    )
}

impl IntoParams for ProjectPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![project_id()]
    }
}

impl IntoParams for InstancePath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![project_id(), instance_id()]
    }
}

impl IntoParams for DbUserPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let db_user = path_id(
            "db_user_id",
            DB_USER_ID,
            "a lowercase UUID",
            DB_USER_EXAMPLE,
        );
        vec![project_id(), instance_id(), db_user]
    }
}

/// `?db_user_id=`, required: the db user a listing acts as.
pub struct DbUserQuery;

impl IntoParams for DbUserQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            StringParam {
                name: "db_user_id",
                location: ParameterIn::Query,
                required: true,
                schema: matching(DB_USER_ID),
                description: "the db user to list as: a lowercase UUID",
                example: DB_USER_EXAMPLE,
            }
            .build(),
        ]
    }
}

/// `?db_user_id=`, optional: a filter.
pub struct DbUserFilterQuery;

impl IntoParams for DbUserFilterQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![query_filter(
            "db_user_id",
            DB_USER_ID,
            "only this db user: a lowercase UUID",
            DB_USER_EXAMPLE,
        )]
    }
}

/// `/v3/projects/{project_id}/users/{user_id}/roles/{role}`
pub struct RoleBindingPath;

impl IntoParams for RoleBindingPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            project_id(),
            path_id("user_id", USER_ID, "32 lowercase hex", USER_EXAMPLE),
            path_enum("role", ROLES, "viewer | operator | admin"),
        ]
    }
}

/// `/v3.0/OS-CREDENTIAL/credentials/{access}`
pub struct AccessKeyPath;

impl IntoParams for AccessKeyPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![path_id(
            "access",
            ACCESS_KEY,
            "the access key id",
            "HX3QKV9ZP2LM7RT4WN8B",
        )]
    }
}

/// `?user_id=`: whose access keys to list.
pub struct UserFilterQuery;

impl IntoParams for UserFilterQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![query_filter(
            "user_id",
            USER_ID,
            "32 lowercase hex; default the caller (every key, for the global admin)",
            USER_EXAMPLE,
        )]
    }
}
