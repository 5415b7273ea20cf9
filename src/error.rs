//! The error vocabulary of the API, independent of HTTP: each variant is one DAS / APIGW code.
//! `http::error` is the only place that turns these into a status, a localised message and a
//! response body.

use std::fmt;

use crate::domain::TlsFailure;

/// What is wrong with one request parameter, in words both languages can render.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    Missing,
    /// Wrong JSON type; names the expected one (`string`, `array of strings`, …).
    NotA(&'static str),
    /// Present but not acceptable; the detail is English-only, so keep it to values and syntax.
    Invalid(String),
    Length {
        min: usize,
        max: usize,
    },
    Range {
        min: i64,
        max: i64,
    },
    OneOf(&'static [&'static str]),
}

/// Why the transport refused a request before any handler saw it (APIGW.0201, as Huawei's API
/// gateway answers oversized or malformed requests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The request line or a header is not valid HTTP/1.1.
    Malformed,
    /// The request target is longer than 65,534 bytes.
    UriTooLong,
    /// The head is over 128 KiB, or has more than 100 headers.
    HeadersTooLarge,
    /// The body did not arrive within `body_read_timeout_ms`.
    BodyTimeout,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DasError {
    /// DAS.200100: generic parameter error on `field`.
    BadParam {
        field: String,
        problem: Problem,
    },
    /// DAS.200100: the body is not JSON (or not an object); detail names line/column.
    MalformedJson(String),
    /// DAS.200100: the body exceeds the limit.
    BodyTooLarge,
    /// DAS.200100: a request without valid credentials (a login) carries more than 64 KiB.
    AnonymousBodyTooLarge,
    /// DAS.200100: a kill names none of process_ids / user / database.
    NoKillFilter,
    /// DAS.200100: the instance has this many kill rules running or paused already.
    RuleLimit(usize),
    /// DAS.200100: no kill rule with that task id on this instance.
    UnknownTask,
    /// DAS.200100: kill-all-session while the instance's switch is OFF.
    RuleSwitchOff,
    BadOffset,
    BadLimit,
    /// DAS.200103: a `cur_page` that is not an integer from 1 to 2^31-1.
    BadCurPage,
    /// DAS.200104: a `per_page` that is not an integer from 1 to 100.
    BadPerPage,
    UnsupportedDatastore,
    /// DAS.200107: an `engine_type` that is unknown or does not fit the instance.
    UnsupportedEngineType,
    BadDbUserId,
    BadProjectId,
    BadInstanceId,
    /// DAS.210002: the instance refused the db user's login.
    LoginRefused,
    /// DAS.210003: the instance refused a statement for lack of privilege.
    PrivilegeDenied,
    /// APIGW.0301, with the part that failed (never a secret).
    Unauthenticated(&'static str),
    Forbidden,
    NoRoute,
    NameTaken,
    /// APIGW.0308: the caller may try again in this many seconds (`Retry-After`).
    RateLimited {
        retry_after_secs: u64,
    },
    /// DAS.210001: the instance could not be reached in time.
    Unreachable,
    /// DAS.210001: the instance could not be reached because TLS failed (or was missing).
    TargetTls(TlsFailure),
    /// DAS.210004: a statement on the instance timed out.
    StatementTimeout,
    /// DAS.210004 (one session of a kill): the deadline came before its KILL could be sent.
    KillNotAttempted,
    /// DAS.210004 (one session of a kill): its KILL was sent but not answered in time (a slow
    /// or stopped instance), and the session was not seen gone; the KILL may still take effect,
    /// and reconciliation corrects the history.
    KillUnconfirmed,
    /// DAS.209999: details go to the log only, keyed by the request id.
    Internal(String),
    /// DAS.209999, never answered to a request: a rule tick's intent was refused because this
    /// replica no longer holds the instance's rule lease, so nothing was sent.
    LeaseLost,
    /// DAS.209999: the store could not write (disk full, read-only, failing); the request was
    /// refused before it changed anything. The detail goes to the log only.
    StoreCannotWrite(String),
    /// DAS.209999 from `/healthz`: dbkill cannot do its work now (its store cannot write); the
    /// detail goes to the log only.
    Unhealthy(String),
    /// APIGW.0201: refused by the transport (bad or oversized head, body too slow).
    Rejected(Rejection),
}

impl DasError {
    pub fn bad(field: impl Into<String>, problem: Problem) -> Self {
        DasError::BadParam {
            field: field.into(),
            problem,
        }
    }

    pub fn internal(e: impl fmt::Display) -> Self {
        DasError::Internal(e.to_string())
    }

    /// The stable DAS / APIGW / IAM code: what the API answers and what the kill history keeps.
    pub fn code(&self) -> &'static str {
        use DasError::*;
        match self {
            BadParam { .. }
            | MalformedJson(_)
            | BodyTooLarge
            | AnonymousBodyTooLarge
            | NoKillFilter
            | RuleLimit(_)
            | UnknownTask
            | RuleSwitchOff => "DAS.200100",
            BadOffset | BadCurPage => "DAS.200103",
            BadLimit | BadPerPage => "DAS.200104",
            UnsupportedDatastore | UnsupportedEngineType => "DAS.200107",
            BadDbUserId => "DAS.200112",
            BadProjectId => "DAS.200113",
            BadInstanceId => "DAS.200114",
            LoginRefused => "DAS.210002",
            PrivilegeDenied => "DAS.210003",
            Unauthenticated(_) => "APIGW.0301",
            Forbidden => "APIGW.0302",
            NoRoute => "APIGW.0101",
            NameTaken => "IAM.0409",
            RateLimited { .. } => "APIGW.0308",
            Unreachable | TargetTls(_) => "DAS.210001",
            StatementTimeout | KillNotAttempted | KillUnconfirmed => "DAS.210004",
            Internal(_) | LeaseLost | StoreCannotWrite(_) | Unhealthy(_) => "DAS.209999",
            Rejected(_) => "APIGW.0201",
        }
    }
}

impl fmt::Display for DasError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for DasError {}

impl From<crate::store::StoreError> for DasError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Conflict => DasError::NameTaken,
            crate::store::StoreError::Unwritable(detail) => DasError::StoreCannotWrite(detail),
            crate::store::StoreError::LeaseLost => DasError::LeaseLost,
            other => DasError::Internal(other.to_string()),
        }
    }
}

pub type DasResult<T> = Result<T, DasError>;
