//! The one place that maps errors to HTTP: status, DAS code, English or Chinese message.
//! Handlers return [`DasError`]; its response carries the error as an extension, and
//! [`localize_errors`] renders the body in the caller's `X-Language` and logs internal details
//! with the request id.

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::TlsFailure;
use crate::error::{DasError, Problem, Rejection};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        match headers.get("x-language").and_then(|v| v.to_str().ok()) {
            Some(v) if v.trim().eq_ignore_ascii_case("zh-cn") => Lang::Zh,
            _ => Lang::En,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error_code: &'static str,
    pub error_msg: String,
}

/// The HTTP status of each error; its code comes from [`DasError::code`].
pub fn status(e: &DasError) -> StatusCode {
    use DasError::*;
    match e {
        BadParam { .. }
        | MalformedJson(_)
        | BodyTooLarge
        | AnonymousBodyTooLarge
        | NoKillFilter
        | RuleLimit(_)
        | UnknownTask
        | RuleSwitchOff
        | BadOffset
        | BadLimit
        | BadCurPage
        | BadPerPage
        | UnsupportedDatastore
        | UnsupportedEngineType
        | BadDbUserId
        | BadProjectId
        | BadInstanceId
        | LoginRefused
        | PrivilegeDenied => StatusCode::BAD_REQUEST,
        Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        Forbidden => StatusCode::FORBIDDEN,
        NoRoute => StatusCode::NOT_FOUND,
        NameTaken => StatusCode::CONFLICT,
        RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        Unreachable | TargetTls(_) | StatementTimeout | KillNotAttempted | KillUnconfirmed
        | Internal(_) | LeaseLost | StoreCannotWrite(_) => StatusCode::INTERNAL_SERVER_ERROR,
        Unhealthy(_) => StatusCode::SERVICE_UNAVAILABLE,
        Rejected(Rejection::Malformed) => StatusCode::BAD_REQUEST,
        Rejected(Rejection::UriTooLong) => StatusCode::URI_TOO_LONG,
        Rejected(Rejection::HeadersTooLarge) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        Rejected(Rejection::BodyTimeout) => StatusCode::REQUEST_TIMEOUT,
    }
}

/// Why TLS to an instance failed; rustls's detail is English in both languages, and cut short.
fn tls_text(f: &TlsFailure, lang: Lang) -> String {
    let detail = |d: &str| super::extract::truncate(d, 200);
    match (f, lang) {
        (TlsFailure::RequiredByServer, Lang::En) => "The instance requires TLS \
            (require_secure_transport, or an account created REQUIRE SSL) but the instance's \
            tls_mode is disabled: set tls_mode to required, verify_ca or verify_identity."
            .into(),
        (TlsFailure::RequiredByServer, Lang::Zh) => "实例要求使用 TLS 连接（require_secure_transport，\
            或账号设置了 REQUIRE SSL），但该实例的 tls_mode 为 disabled：请将 tls_mode 设为 required、\
            verify_ca 或 verify_identity。"
            .into(),
        (TlsFailure::NotOffered, Lang::En) => "TLS: the instance's tls_mode requires TLS but the \
            server does not offer it: enable TLS on the server, or set tls_mode to preferred or \
            disabled."
            .into(),
        (TlsFailure::NotOffered, Lang::Zh) => "TLS：该实例的 tls_mode 要求 TLS，但服务器未提供 TLS：\
            请在服务器上启用 TLS，或将 tls_mode 设为 preferred 或 disabled。"
            .into(),
        (TlsFailure::Certificate(d), Lang::En) => format!(
            "TLS: the instance's certificate failed verification ({}): check tls_ca, and for \
             verify_identity that the certificate names the host dbkill connects to.",
            detail(d)
        ),
        (TlsFailure::Certificate(d), Lang::Zh) => format!(
            "TLS：实例证书校验失败（{}）：请检查 tls_ca；verify_identity 模式下证书还须包含 dbkill \
             所连接的主机名。",
            detail(d)
        ),
        (TlsFailure::Handshake(d), Lang::En) => {
            format!("TLS: the handshake with the instance failed ({}).", detail(d))
        }
        (TlsFailure::Handshake(d), Lang::Zh) => format!("TLS：与实例的握手失败（{}）。", detail(d)),
    }
}

fn problem_text(p: &Problem, lang: Lang) -> String {
    match (p, lang) {
        (Problem::Missing, Lang::En) => "is required".into(),
        (Problem::Missing, Lang::Zh) => "为必填项".into(),
        (Problem::NotA(t), Lang::En) => format!("must be of type {t}"),
        (Problem::NotA(t), Lang::Zh) => format!("类型必须为 {t}"),
        (Problem::Invalid(d), Lang::En) => format!("is invalid ({d})"),
        (Problem::Invalid(d), Lang::Zh) => format!("取值无效（{d}）"),
        (Problem::Length { min, max }, Lang::En) => format!("must be {min} to {max} characters"),
        (Problem::Length { min, max }, Lang::Zh) => format!("长度必须为 {min} 到 {max} 个字符"),
        (Problem::Range { min, max }, Lang::En) => format!("must be between {min} and {max}"),
        (Problem::Range { min, max }, Lang::Zh) => format!("取值范围为 {min} 到 {max}"),
        (Problem::OneOf(v), Lang::En) => format!("must be one of: {}", v.join(", ")),
        (Problem::OneOf(v), Lang::Zh) => format!("取值必须为以下之一：{}", v.join(", ")),
    }
}

/// The message for `e` in `lang`; never contains a secret, a DSN or a stack trace.
pub fn message(e: &DasError, lang: Lang) -> String {
    use DasError::*;
    let zh = lang == Lang::Zh;
    let pick = |en: &str, cn: &str| if zh { cn.to_owned() } else { en.to_owned() };
    match e {
        BadParam { field, problem } => {
            if zh {
                format!("参数错误：{field} {}。", problem_text(problem, lang))
            } else {
                format!(
                    "The parameter is invalid: {field} {}.",
                    problem_text(problem, lang)
                )
            }
        }
        MalformedJson(d) => {
            if zh {
                format!("参数错误：请求体不是合法的 JSON 对象（{d}）。")
            } else {
                format!("The parameter is invalid: the body is not a valid JSON object ({d}).")
            }
        }
        BodyTooLarge => pick(
            "The parameter is invalid: the request body exceeds 1 MiB.",
            "参数错误：请求体超过 1 MiB。",
        ),
        AnonymousBodyTooLarge => pick(
            "The parameter is invalid: a request without credentials (a login) may carry at most 64 KiB.",
            "参数错误：未携带凭证的请求（登录）的请求体不得超过 64 KiB。",
        ),
        NoKillFilter => pick(
            "The parameter is invalid: give at least one of process_ids, user, database.",
            "参数错误：process_ids、user、database 至少指定一个。",
        ),
        RuleLimit(n) => pick(
            &format!(
                "The parameter is invalid: an instance may have at most {n} kill tasks running or paused (setting rules_per_instance); stop one first."
            ),
            &format!(
                "参数错误：一个实例最多可有 {n} 个运行中或已暂停的终止会话任务（配置项 rules_per_instance），请先停止一个。"
            ),
        ),
        UnknownTask => pick(
            "The parameter is invalid: no kill task with this task_id exists on this instance.",
            "参数错误：该实例上不存在此 task_id 的终止会话任务。",
        ),
        RuleSwitchOff => pick(
            "The operation is not allowed: the instance's kill task switch is OFF; turn it ON first (set-kill-process-task-switch).",
            "不允许此操作：该实例的终止会话任务开关为关闭状态，请先开启（set-kill-process-task-switch）。",
        ),
        BadOffset => pick(
            "The offset parameter is invalid: it must be an integer from 0 to 2147483647.",
            "offset 参数无效：必须为 0 到 2147483647 的整数。",
        ),
        BadLimit => pick(
            "The limit parameter is invalid: it is out of the allowed range.",
            "limit 参数无效：超出允许范围。",
        ),
        BadCurPage => pick(
            "The cur_page parameter is invalid: it must be an integer from 1 to 2147483647.",
            "cur_page 参数无效：必须为 1 到 2147483647 的整数。",
        ),
        BadPerPage => pick(
            "The per_page parameter is invalid: it must be an integer from 1 to 100.",
            "per_page 参数无效：必须为 1 到 100 的整数。",
        ),
        UnsupportedDatastore => pick(
            "The datastore_type is invalid: it is not supported or does not match the instance.",
            "datastore_type 无效：不支持该类型或与实例类型不符。",
        ),
        UnsupportedEngineType => pick(
            "The engine_type is invalid: it is not supported or does not match the instance (mysql for MySQL and MariaDB instances, postgresql for PostgreSQL ones).",
            "engine_type 无效：不支持该类型或与实例类型不符（MySQL 和 MariaDB 实例为 mysql，PostgreSQL 实例为 postgresql）。",
        ),
        BadDbUserId => pick(
            "The db_user_id value is invalid: it is missing, malformed, unknown, or registered on another instance.",
            "db_user_id 无效：缺失、格式错误、不存在或属于其他实例。",
        ),
        BadProjectId => pick(
            "The project_id parameter is invalid: it is malformed or unknown.",
            "project_id 参数无效：格式错误或不存在。",
        ),
        BadInstanceId => pick(
            "The instance_id parameter is invalid: it is malformed or unknown in this project.",
            "instance_id 参数无效：格式错误或在该项目中不存在。",
        ),
        LoginRefused => pick(
            "The instance refused the login of the db user: check the user name and password.",
            "实例拒绝了数据库用户的登录：请检查用户名和密码。",
        ),
        PrivilegeDenied => pick(
            "The instance refused the statement: the db user lacks a privilege (MySQL: PROCESS to list sessions, CONNECTION ADMIN or SUPER to kill them; PostgreSQL: pg_read_all_stats to see them, pg_signal_backend or superuser to signal them).",
            "实例拒绝执行语句：数据库用户缺少权限（MySQL：查看会话需要 PROCESS，终止会话需要 CONNECTION ADMIN 或 SUPER；PostgreSQL：查看会话需要 pg_read_all_stats，终止会话需要 pg_signal_backend 或超级用户）。",
        ),
        Unauthenticated(why) => {
            if zh {
                format!("IAM 认证信息错误：{why}。")
            } else {
                format!("Incorrect IAM authentication information: {why}.")
            }
        }
        Forbidden => pick(
            "The user is not authorized for this action on this project.",
            "用户无权在该项目中执行此操作。",
        ),
        NoRoute => pick(
            "API not found: no such route or method.",
            "API 不存在：没有该路径或方法。",
        ),
        NameTaken => pick("The name exists already.", "该名称已存在。"),
        RateLimited { retry_after_secs } => {
            if zh {
                format!("已达到流控阈值，请在 {retry_after_secs} 秒后重试。")
            } else {
                format!("The throttling threshold has been reached: retry in {retry_after_secs} s.")
            }
        }
        Unreachable => pick(
            "The instance could not be reached in time (refused, timed out or unknown host).",
            "无法及时连接到实例（连接被拒绝、超时或主机未知）。",
        ),
        TargetTls(failure) => tls_text(failure, lang),
        StatementTimeout => pick(
            "A statement on the instance timed out.",
            "在实例上执行语句超时。",
        ),
        KillNotAttempted => pick(
            "Not attempted: the request's deadline came before this session's KILL could be sent.",
            "未尝试：在发送该会话的 KILL 之前已到达请求的截止时间。",
        ),
        KillUnconfirmed => pick(
            "The KILL was sent but not answered in time (the instance is slow or stopped answering): it may still take effect; the kill history is corrected once the instance has finished it.",
            "KILL 已发送但未及时得到响应（实例过慢或停止响应）：它仍可能生效；实例处理完毕后将更正终止历史。",
        ),
        Internal(_) | LeaseLost => pick(
            "Internal error: see the server log for this request id.",
            "内部错误：请根据请求 ID 查看服务端日志。",
        ),
        StoreCannotWrite(_) => pick(
            "dbkill's store cannot write (disk full, read-only or failing storage): the request was refused before it changed anything, and no session was killed.",
            "dbkill 的存储无法写入（磁盘已满、只读或存储故障）：请求在做出任何更改之前已被拒绝，未终止任何会话。",
        ),
        Unhealthy(_) => pick(
            "Unhealthy: dbkill's store cannot write (disk full, read-only or failing storage), so kills are refused; see the server log.",
            "不健康：dbkill 的存储无法写入（磁盘已满、只读或存储故障），终止会话的请求将被拒绝；请查看服务端日志。",
        ),
        Rejected(Rejection::Malformed) => pick(
            "Bad request: the request line or a header is not valid HTTP/1.1.",
            "错误的请求：请求行或请求头不是合法的 HTTP/1.1。",
        ),
        Rejected(Rejection::UriTooLong) => pick(
            "Bad request: the URI is too long.",
            "错误的请求：URI 过长。",
        ),
        Rejected(Rejection::HeadersTooLarge) => pick(
            "Bad request: the request headers are too large or too many.",
            "错误的请求：请求头过大或过多。",
        ),
        Rejected(Rejection::BodyTimeout) => pick(
            "Bad request: the request body did not arrive in time.",
            "错误的请求：请求体未能按时到达。",
        ),
    }
}

/// The status and JSON body of `e` in `lang`, for answers written outside the router (the
/// serve loop's rewrite of the HTTP parser's own refusals).
pub fn status_and_body(e: &DasError, lang: Lang) -> (StatusCode, Vec<u8>) {
    let body = ErrorBody {
        error_code: e.code(),
        error_msg: message(e, lang),
    };
    let json = serde_json::to_vec(&body).expect("an error body serialises");
    (status(e), json)
}

/// Marker put on error responses so [`localize_errors`] can render them.
#[derive(Clone)]
struct RenderedError(DasError);

pub fn render(e: &DasError, lang: Lang) -> Response {
    let body = ErrorBody {
        error_code: e.code(),
        error_msg: message(e, lang),
    };
    let mut resp = (status(e), Json(body)).into_response();
    if let DasError::RateLimited { retry_after_secs } = e {
        resp.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, (*retry_after_secs).into());
    }
    resp
}

impl IntoResponse for DasError {
    fn into_response(self) -> Response {
        let mut resp = render(&self, Lang::En);
        resp.extensions_mut().insert(RenderedError(self));
        resp
    }
}

/// Re-renders error responses in the request's language and logs internal errors.
pub async fn localize_errors(req: Request, next: Next) -> Response {
    let lang = Lang::from_headers(req.headers());
    let request_id = super::extract::request_id(req.headers()).to_owned();
    let resp = next.run(req).await;
    let Some(RenderedError(err)) = resp.extensions().get::<RenderedError>().cloned() else {
        return resp;
    };
    match &err {
        DasError::Internal(detail) => {
            tracing::error!(request_id = %request_id, "internal error: {detail}");
        }
        DasError::StoreCannotWrite(detail) => {
            tracing::error!(request_id = %request_id, "{detail}");
        }
        // Logged by the probe, at most once per probe, not once per caller.
        _ => {}
    }
    let (parts, _) = resp.into_parts();
    let mut fresh = render(&err, lang);
    for (name, value) in parts.headers.iter() {
        if name != axum::http::header::CONTENT_LENGTH && name != axum::http::header::CONTENT_TYPE {
            fresh.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fresh
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<DasError> {
        use DasError::*;
        vec![
            DasError::bad("user", Problem::NotA("string")),
            MalformedJson("line 1".into()),
            BodyTooLarge,
            AnonymousBodyTooLarge,
            NoKillFilter,
            RuleLimit(20),
            UnknownTask,
            RuleSwitchOff,
            BadOffset,
            BadLimit,
            BadCurPage,
            BadPerPage,
            UnsupportedDatastore,
            UnsupportedEngineType,
            BadDbUserId,
            BadProjectId,
            BadInstanceId,
            LoginRefused,
            PrivilegeDenied,
            Unauthenticated("token expired"),
            Forbidden,
            NoRoute,
            NameTaken,
            RateLimited {
                retry_after_secs: 3,
            },
            Unreachable,
            TargetTls(TlsFailure::RequiredByServer),
            TargetTls(TlsFailure::NotOffered),
            TargetTls(TlsFailure::Certificate("UnknownIssuer ".repeat(100))),
            TargetTls(TlsFailure::Handshake("alert".into())),
            StatementTimeout,
            KillNotAttempted,
            KillUnconfirmed,
            Internal("secret detail".into()),
            StoreCannotWrite("secret detail".into()),
            Unhealthy("secret detail".into()),
            Rejected(Rejection::Malformed),
            Rejected(Rejection::UriTooLong),
            Rejected(Rejection::HeadersTooLarge),
            Rejected(Rejection::BodyTimeout),
        ]
    }

    #[test]
    fn every_code_has_bounded_messages_in_both_languages() {
        for e in all() {
            let code = e.code();
            assert!((8..=36).contains(&code.len()), "{code}");
            for lang in [Lang::En, Lang::Zh] {
                let m = message(&e, lang);
                assert!((2..=512).contains(&m.chars().count()), "{m}");
                assert!(!m.contains("secret detail"));
            }
            assert_ne!(message(&e, Lang::En), message(&e, Lang::Zh));
        }
    }

    #[test]
    fn every_tls_failure_names_tls_in_both_languages() {
        for failure in [
            TlsFailure::RequiredByServer,
            TlsFailure::NotOffered,
            TlsFailure::Certificate("UnknownIssuer".into()),
            TlsFailure::Handshake("alert".into()),
        ] {
            let e = DasError::TargetTls(failure);
            assert_eq!(
                (status(&e), e.code()),
                (StatusCode::INTERNAL_SERVER_ERROR, "DAS.210001")
            );
            for lang in [Lang::En, Lang::Zh] {
                let m = message(&e, lang);
                assert!(m.contains("TLS"), "{m}");
            }
        }
    }

    #[test]
    fn a_rate_limit_says_when_to_come_back() {
        let resp = render(
            &DasError::RateLimited {
                retry_after_secs: 7,
            },
            Lang::Zh,
        );
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[axum::http::header::RETRY_AFTER], "7");
    }

    #[test]
    fn language_header_is_case_insensitive() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::from_headers(&h), Lang::En);
        h.insert("x-language", "ZH-CN".parse().unwrap());
        assert_eq!(Lang::from_headers(&h), Lang::Zh);
        h.insert("x-language", "fr-fr".parse().unwrap());
        assert_eq!(Lang::from_headers(&h), Lang::En);
    }
}
