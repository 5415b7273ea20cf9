//! What can go wrong in a client command, rendered in the user's language, and the exit code
//! each failure gives (documented in the README's "Command line" section):
//! 1 the request failed, 2 usage, 3 some sessions could not be killed, 4 not logged in / login
//! refused.

use super::i18n::Lang;

pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_KILL_FAILED: i32 = 3;
pub const EXIT_LOGIN: i32 = 4;

#[derive(Debug)]
pub enum CliError {
    /// The command line cannot be carried out as given; the message is already localized.
    Usage(String),
    NotLoggedIn,
    LoginExpired {
        at: String,
    },
    /// The server answered with a DAS error body (its message is in the requested language).
    Das {
        status: u16,
        code: String,
        msg: String,
    },
    Unreachable {
        server: String,
        detail: String,
    },
    TimedOut {
        server: String,
    },
    /// A non-DAS answer, e.g. from a proxy in front of the server.
    BadAnswer {
        status: u16,
        detail: String,
    },
    /// Anything else, already localized (e.g. the login file cannot be written).
    Other(String),
}

pub type CliResult<T> = Result<T, CliError>;

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::NotLoggedIn | CliError::LoginExpired { .. } => EXIT_LOGIN,
            CliError::Das { status: 401, .. } => EXIT_LOGIN,
            _ => EXIT_FAILED,
        }
    }

    pub fn render(&self, lang: Lang) -> String {
        let body = match self {
            CliError::Usage(m) | CliError::Other(m) => m.clone(),
            CliError::NotLoggedIn => lang.not_logged_in(),
            CliError::LoginExpired { at } => lang.login_expired(at),
            CliError::Das {
                status: 401,
                code,
                msg,
            } => format!("{code}: {msg} {}", lang.login_refused_hint()),
            CliError::Das { code, msg, .. } => format!("{code}: {msg}"),
            CliError::Unreachable { server, detail } => lang.unreachable(server, detail),
            CliError::TimedOut { server } => lang.timed_out(server),
            CliError::BadAnswer { status, detail } => lang.bad_answer(*status, detail),
        };
        format!("{}{body}", lang.error_prefix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn das_errors_show_code_and_message_and_refused_logins_exit_4() {
        let e = CliError::Das {
            status: 400,
            code: "DAS.210002".into(),
            msg: "refused".into(),
        };
        assert_eq!(e.render(Lang::En), "error: DAS.210002: refused");
        assert_eq!(e.exit_code(), EXIT_FAILED);
        let e = CliError::Das {
            status: 401,
            code: "APIGW.0301".into(),
            msg: "m".into(),
        };
        assert_eq!(e.exit_code(), EXIT_LOGIN);
        assert!(e.render(Lang::Zh).starts_with("错误：APIGW.0301: m"));
        assert_eq!(CliError::NotLoggedIn.exit_code(), EXIT_LOGIN);
        assert_eq!(CliError::Usage("u".into()).exit_code(), EXIT_USAGE);
    }
}
