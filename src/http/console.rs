//! The web console at `/console`: a handful of static files compiled into the binary, so the
//! console needs no Node build and no asset directory next to the service. The files need no
//! credentials; the page itself logs in through `POST /v3/auth/tokens` and then calls the same
//! DAS API as any other client (sending `X-Dbkill-Console: 1`, which the kill history records).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterIn};

use super::extract::PathParams;
use super::openapi::{ConsoleFileErrors, OpenErrors, path_enum};
use crate::error::DasError;

/// `(file name, content type, contents)` of every file the console serves. The scripts are ES
/// modules: index.html loads `app.js` with `type="module"` and it imports the others; a browser
/// runs a module only if it comes as JavaScript, which `text/javascript` is.
const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../assets/console/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/console/app.js"),
    ),
    (
        "state.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/console/state.js"),
    ),
    (
        "i18n.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/console/i18n.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/console/api.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/console/dom.js"),
    ),
    (
        "sessions.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/console/sessions.js"),
    ),
    (
        "kill-dialog.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/console/kill-dialog.js"),
    ),
    (
        "rules.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/console/rules.js"),
    ),
    (
        "rule-form.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/console/rule-form.js"),
    ),
    (
        "ask.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/console/ask.js"),
    ),
    (
        "history.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/console/history.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/console/style.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../../assets/console/favicon.svg"),
    ),
];

/// Only our own files may run or load, and the page may talk only to this origin: a session
/// value that somehow reached the DOM as markup could still not execute, and a token cannot be
/// sent elsewhere. No inline code is allowed, so the page has none.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn serve(name: &str) -> Result<Response, DasError> {
    let (_, content_type, body) = FILES
        .iter()
        .find(|(file, _, _)| *file == name)
        .ok_or(DasError::NoRoute)?;
    let mut resp = (*body).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The files change with the binary, and an upgraded service must not run a stale script.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    Ok(resp)
}

/// `GET /console`: the page.
#[utoipa::path(get, path = "/console", tag = "console", security(()),
    responses((status = 200, description = "The console's page", content_type = "text/html", body = String), OpenErrors))]
pub async fn console_index() -> Result<Response, DasError> {
    serve("index.html")
}

/// `GET /console/`: the page too.
#[utoipa::path(get, path = "/console/", tag = "console", security(()),
    responses((status = 200, description = "The console's page", content_type = "text/html", body = String), OpenErrors))]
pub async fn console_index_slash() -> Result<Response, DasError> {
    serve("index.html")
}

/// `{file}`: one of [`FILES`].
pub struct ConsoleFilePath;

impl IntoParams for ConsoleFilePath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![path_enum(
            "file",
            FILES.iter().map(|(name, _, _)| *name),
            "a file of the console",
        )]
    }
}

/// `GET /console/{file}`: one of [`FILES`]; anything else is the JSON 404 of every unknown route.
#[utoipa::path(get, path = "/console/{file}", tag = "console", security(()), params(ConsoleFilePath),
    responses((status = 200, description = "The file",
               content(("text/html"), ("text/javascript"), ("text/css"), ("image/svg+xml"))),
              ConsoleFileErrors))]
pub async fn console_file(PathParams(file): PathParams<String>) -> Result<Response, DasError> {
    serve(&file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(name: &str) -> &'static str {
        FILES.iter().find(|(file, _, _)| *file == name).unwrap().2
    }

    #[test]
    fn every_file_is_served_with_its_type_and_the_policy() {
        for (name, content_type, body) in FILES {
            let resp = serve(name).unwrap();
            assert_eq!(resp.headers()[header::CONTENT_TYPE], *content_type);
            assert_eq!(resp.headers()[header::CONTENT_SECURITY_POLICY], CSP);
            assert!(!body.is_empty(), "{name} is empty");
        }
        assert!(matches!(serve("../Cargo.toml"), Err(DasError::NoRoute)));
        assert!(matches!(serve(""), Err(DasError::NoRoute)));
    }

    /// The policy forbids inline code, so the page must not contain any: it would silently not run.
    #[test]
    fn the_page_has_no_inline_script_style_or_handler() {
        let html = contents("index.html");
        for tag in html.match_indices("<script").map(|(i, _)| &html[i..]) {
            let open = &tag[..tag.find('>').unwrap()];
            assert!(open.contains(" src=\"/console/"), "inline script: {open}");
        }
        assert!(!html.contains("<style"), "inline <style>");
        assert!(!html.contains(" style=\""), "inline style attribute");
        assert!(!html.contains(" onclick="), "inline handler");
        assert!(!html.contains("http://") && !html.contains("https://"));
    }

    fn scripts() -> impl Iterator<Item = (&'static str, &'static str)> {
        FILES
            .iter()
            .filter(|(name, _, _)| name.ends_with(".js"))
            .map(|(name, _, body)| (*name, *body))
    }

    /// The page loads the entry as a module, and every module another one imports is served: a
    /// missing one would stop the whole console in the browser.
    #[test]
    fn every_imported_module_is_served() {
        let html = contents("index.html");
        assert!(
            html.contains(r#"<script type="module" src="/console/app.js"></script>"#),
            "{html}"
        );
        let mut imported = 0;
        for (name, js) in scripts() {
            for (i, _) in js.match_indices(" from './") {
                let rest = &js[i + " from './".len()..];
                let target = &rest[..rest.find('\'').unwrap()];
                assert!(
                    FILES.iter().any(|(file, _, _)| *file == target),
                    "{name} imports {target}, which is not served"
                );
                imported += 1;
            }
        }
        assert!(imported > 10, "{imported} imports");
    }

    /// No script turns a string into markup or code (every database value goes in as text), and
    /// only the language is kept in localStorage: the token lives in sessionStorage alone.
    #[test]
    fn no_script_writes_markup_or_keeps_the_token_beyond_the_tab() {
        for (name, js) in scripts() {
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
            ] {
                assert!(!js.contains(sink), "{name} uses {sink}");
            }
            for (i, _) in js.match_indices("localStorage.") {
                let call = &js[i..];
                assert!(
                    call.starts_with("localStorage.getItem(LANG_KEY)")
                        || call.starts_with("localStorage.setItem(LANG_KEY,"),
                    "{name}: {}",
                    &call[..call.find(';').unwrap_or(call.len())]
                );
            }
        }
    }

    /// Every string the page shows exists in both languages.
    #[test]
    fn both_languages_have_the_same_keys() {
        let js = contents("i18n.js");
        let keys = |lang: &str| -> Vec<String> {
            let start = js.find(&format!("{lang}: {{")).unwrap();
            let end = start + js[start..].find("\n  },").unwrap();
            let mut keys: Vec<String> = js[start..end]
                .lines()
                .skip(1)
                .filter_map(|l| l.trim().split_once(':').map(|(k, _)| k.trim().to_owned()))
                .filter(|k| !k.is_empty() && !k.starts_with("//"))
                .collect();
            keys.sort();
            keys
        };
        let (en, zh) = (keys("en"), keys("zh"));
        assert!(en.len() > 50, "{en:?}");
        assert_eq!(en, zh);
    }
}
