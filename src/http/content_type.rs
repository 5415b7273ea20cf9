//! Only JSON bodies: a request with a body whose `Content-Type` is not `application/json`
//! (parameters: at most a `charset` of UTF-8) is refused with 400 DAS.200100 before anything
//! reads it. Browsers send a `text/plain` (or untyped) body across origins without asking the
//! server first (a CORS "simple request"); refusing it means no page on another site can log in
//! or act through a user's browser. Bodiless requests are not checked.

use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{DasError, Problem};

fn has_body(req: &Request) -> bool {
    let length = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    length.is_some_and(|n| n > 0) || req.headers().contains_key(TRANSFER_ENCODING)
}

/// `application/json`, optionally `; charset=utf-8` (any case, quoted or not).
fn is_json(content_type: &str) -> bool {
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return false;
    }
    parts.all(|param| match param.split_once('=') {
        Some((name, value)) => {
            name.trim().eq_ignore_ascii_case("charset")
                && value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        }
        None => param.trim().is_empty(),
    })
}

pub async fn require_json(req: Request, next: Next) -> Response {
    if has_body(&req) {
        let json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json);
        if !json {
            return DasError::bad("Content-Type", Problem::OneOf(&["application/json"]))
                .into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_with_an_optional_utf8_charset() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
            "application/json;",
        ] {
            assert!(is_json(ok), "{ok}");
        }
        for refused in [
            "text/plain",
            "text/plain;charset=UTF-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json-patch+json",
            "application/json; charset=latin1",
            "application/json; boundary=x",
            "",
        ] {
            assert!(!is_json(refused), "{refused}");
        }
    }
}
