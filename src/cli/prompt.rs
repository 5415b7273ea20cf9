//! Reading from the user: passwords (one line of stdin, or a prompt without echo on a terminal)
//! and the yes/no question before a kill.

use std::io::{BufRead, IsTerminal, Write};

use super::error::{CliError, CliResult};
use super::i18n::Lang;

/// A password from one line of stdin when `from_stdin`, else typed at a terminal without echo.
/// Only the line ending is removed: spaces may be part of a password.
pub fn password(from_stdin: bool, whose: &str, lang: Lang) -> CliResult<String> {
    let pw = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| CliError::Other(e.to_string()))?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else if std::io::stdin().is_terminal() {
        rpassword::prompt_password(lang.password_prompt(whose))
            .map_err(|e| CliError::Other(e.to_string()))?
    } else {
        return Err(CliError::Usage(lang.no_password()));
    };
    if pw.is_empty() {
        return Err(CliError::Usage(lang.empty_password()));
    }
    Ok(pw)
}

/// Asks `question` on stderr and reads one line of stdin; only an explicit yes is a yes.
pub fn confirm(question: &str) -> bool {
    let mut err = std::io::stderr();
    let _ = write!(err, "{question}");
    let _ = err.flush();
    let mut answer = String::new();
    match std::io::stdin().lock().read_line(&mut answer) {
        Ok(0) | Err(_) => {
            // EOF: end the prompt's line so the next message does not run on after it.
            let _ = writeln!(err);
            false
        }
        Ok(_) => Lang::is_yes(&answer),
    }
}
