//! What the API accepts, as JSON Schema: the id shapes of spec/api.md ("IDs") and the bounds of
//! the text fields. Parameters use them through `params`; request bodies through
//! `#[schema(schema_with = …)]`. Each is defined once, and the tests hold the id patterns to
//! the parsers: what a pattern allows is never refused as malformed.

use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, Schema, SchemaType};
use utoipa::openapi::{KnownFormat, Object, ObjectBuilder, SchemaFormat, Type};

use crate::domain::TlsMode;

pub const PROJECT_ID: &str = "^[0-9a-f]{32}$";
/// 32 hex and the engine: `in01` MySQL family, `in03` PostgreSQL.
pub const INSTANCE_ID: &str = "^[0-9a-f]{32}in0[13]$";
pub const DB_USER_ID: &str = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
pub const USER_ID: &str = "^[0-9a-f]{32}$";
/// What `DELETE …/credentials/{access}` accepts; dbkill mints 20 upper-case letters and digits.
pub const ACCESS_KEY: &str = "^[A-Za-z0-9]{1,64}$";
pub const ROLES: [&str; 3] = ["viewer", "operator", "admin"];

/// Text without control characters, which every text field refuses (`check_len`).
const PRINTABLE: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";
/// Host names and addresses: printable and without white space.
const HOST: &str = "^[^\\s\\u0000-\\u001f\\u007f-\\u009f]*$";
/// Project and user names.
const NAME: &str = "^[A-Za-z0-9_.@-]{1,64}$";
/// A session id as KillSession takes it: decimal digits (19 of them always fit in 64 bits).
const SESSION_ID: &str = "^[0-9]{1,19}$";

fn string(pattern: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
}

fn nullable(schema: ObjectBuilder, of: Type) -> ObjectBuilder {
    schema.schema_type(SchemaType::from_iter([of, Type::Null]))
}

fn text(min: usize, max: usize) -> ObjectBuilder {
    string(PRINTABLE)
        .min_length(Some(min))
        .max_length(Some(max))
}

pub fn db_user_id() -> Object {
    string(DB_USER_ID).build()
}

/// A db user id, or `null` to clear it.
pub fn db_user_id_change() -> Object {
    nullable(string(DB_USER_ID), Type::String).build()
}

pub fn user_id() -> Object {
    string(USER_ID).build()
}

pub fn name() -> Object {
    string(NAME).build()
}

pub fn password() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
        .min_length(Some(8))
        .max_length(Some(128))
        .build()
}

/// A login's project scope: by `id`, or else by `name`; one of them is needed.
pub fn project_ref() -> Schema {
    let by = |required: &str, other: &str| {
        ObjectBuilder::new()
            .property(
                required,
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1)),
            )
            .required(required)
            .property(other, nullable(ObjectBuilder::new(), Type::String))
    };
    AnyOfBuilder::new()
        .item(by("id", "name"))
        .item(by("name", "id"))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .build()
        .into()
}

pub fn instance_name() -> Object {
    text(1, 64).build()
}

/// In an update: absent, `null` or `""` keeps the name.
pub fn instance_name_change() -> Object {
    nullable(text(0, 64), Type::String).build()
}

fn host_text() -> ObjectBuilder {
    string(HOST).min_length(Some(1)).max_length(Some(253))
}

pub fn host() -> Object {
    host_text().build()
}

/// In an update: absent, `null` or `""` keeps the host.
pub fn host_change() -> Object {
    nullable(host_text().min_length(Some(0)), Type::String).build()
}

/// A rule's text condition: absent, `null` or `""` is no condition.
pub fn rule_text() -> Object {
    nullable(text(0, 1024), Type::String).build()
}

pub fn rule_name() -> Object {
    nullable(text(0, 64), Type::String).build()
}

pub fn task_type() -> Object {
    text(1, 32).build()
}

pub fn rule_mode() -> Object {
    nullable(string("^(|enforce|observe)$"), Type::String).build()
}

pub fn switch_status() -> Object {
    string("^([oO][nN]|[oO][fF][fF])$").build()
}

/// Seconds a rule runs: at least 1, or -1 until it is stopped.
pub fn task_duration() -> Schema {
    AnyOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(i32::MAX)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .enum_values(Some([-1])),
        )
        .build()
        .into()
}

/// A rule's id: a decimal string or an integer.
pub fn task_id() -> Schema {
    AnyOfBuilder::new()
        .item(string("^[1-9][0-9]{0,17}$"))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(i64::MAX)),
        )
        .build()
        .into()
}

/// Case-insensitive; absent, `null` or `""` is the default (`preferred`) or, in an update, no
/// change.
pub fn tls_mode() -> Object {
    let pattern = format!("^(|{})$", TlsMode::NAMES.join("|"));
    nullable(string(&pattern), Type::String).build()
}

/// The PEM of a CA certificate, which the server parses; only with `verify_ca` and
/// `verify_identity`. `null` or `""` is none (in an update: clears it).
pub fn tls_ca() -> Object {
    nullable(string("^$|-----BEGIN CERTIFICATE-----"), Type::String).build()
}

/// Case-insensitive; these spellings are the canonical ones.
pub fn datastore_type() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["mysql", "mariadb", "postgresql"]))
        .build()
}

/// Case-insensitive; `MySQL` fits MySQL and MariaDB instances.
pub fn db_user_datastore_type() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["MySQL", "mysql", "mariadb", "postgresql"]))
        .build()
}

/// CancelInstanceProcess's `engine_type`, case-insensitive; `mysql` fits MySQL and MariaDB
/// instances.
pub fn engine_type() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["mysql", "mariadb", "postgresql"]))
        .build()
}

pub fn protected_users() -> utoipa::openapi::Array {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(text(1, 80))
        .max_items(Some(100))
        .build()
}

pub fn db_username() -> Object {
    text(1, 128).build()
}

pub fn db_password() -> Object {
    text(1, 512)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
        .build()
}

pub fn description() -> Object {
    nullable(text(0, 255), Type::String).build()
}

pub fn process_ids() -> utoipa::openapi::Array {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(string(SESSION_ID))
        .max_items(Some(100_000))
        .build()
}

/// `""` counts as absent, as in every DAS body.
pub fn kill_type() -> Object {
    nullable(string("^(|connection|query)$"), Type::String).build()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use regex::Regex;

    use super::*;
    use crate::domain::{DbUserId, InstanceId, ProjectId, Role, SessionId, UserId};

    fn matches(pattern: &str, s: &str) -> bool {
        Regex::new(pattern).unwrap().is_match(s)
    }

    /// The ids dbkill hands out are described by the patterns clients are given.
    #[test]
    fn minted_ids_match_their_patterns() {
        for _ in 0..100 {
            assert!(matches(PROJECT_ID, ProjectId::new_random().as_str()));
            assert!(matches(
                INSTANCE_ID,
                InstanceId::new_random("in01").as_str()
            ));
            assert!(matches(
                INSTANCE_ID,
                InstanceId::new_random("in03").as_str()
            ));
            assert!(matches(DB_USER_ID, DbUserId::new_random().as_str()));
            assert!(matches(USER_ID, UserId::new_random().as_str()));
        }
        for role in ROLES {
            assert!(Role::parse(role).is_some(), "{role}");
        }
    }

    /// The strings a whole-string pattern (`^…$`) allows.
    fn allowed_by(pattern: &str) -> impl Strategy<Value = String> {
        let body = pattern.strip_prefix('^').and_then(|p| p.strip_suffix('$'));
        proptest::string::string_regex(body.expect("an anchored pattern")).unwrap()
    }

    proptest! {
        /// Whatever a pattern allows, the parser takes: a well-formed id is never refused as
        /// malformed, only as unknown.
        #[test]
        fn the_parsers_accept_all_the_patterns_allow(
            project in allowed_by(PROJECT_ID),
            instance in allowed_by(INSTANCE_ID),
            db_user in allowed_by(DB_USER_ID),
            user in allowed_by(USER_ID),
            access in allowed_by(ACCESS_KEY),
            session in allowed_by(SESSION_ID),
        ) {
            prop_assert!(ProjectId::parse(&project).is_some());
            prop_assert!(InstanceId::parse(&instance).is_some());
            prop_assert!(DbUserId::parse(&db_user).is_some());
            prop_assert!(UserId::parse(&user).is_some());
            prop_assert!(crate::http::credentials::is_access_key(&access));
            prop_assert!(SessionId::parse(&session).is_some());
        }

        /// Text the printable pattern allows passes the check every text field makes.
        #[test]
        fn printable_text_passes_the_length_check(text in allowed_by(PRINTABLE)) {
            let n = text.chars().count();
            prop_assert!(crate::http::extract::check_len("f", &text, n, n).is_ok(), "{:?}", text);
        }
    }
}
