//! The `dbkill` binary as a test drives it: each run with its own config directory and an English
//! locale, its exit code and output (`Out`), and reading session ids out of its tables.

use std::process::Stdio;
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::AsyncWriteExt;

use super::app::{ADMIN_PASSWORD, TestApp};

/// What one run of the binary did.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Asserts exit code 0 and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        self.exited(0);
        &self.stdout
    }

    /// Asserts exit code `code` and that stderr says `says`.
    #[track_caller]
    pub fn fails(&self, code: i32, says: &str) {
        self.exited(code);
        assert!(self.stderr.contains(says), "{}", self.stderr);
    }

    #[track_caller]
    pub fn exited(&self, code: i32) {
        assert_eq!(
            self.code, code,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
    }
}

/// The binary with its own config directory (never the real home) and a fixed English locale.
pub struct Cli {
    config: TempDir,
}

impl Cli {
    pub fn new() -> Cli {
        Cli {
            config: tempfile::tempdir().unwrap(),
        }
    }

    /// A CLI logged in as the admin, its token scoped to `project` (an id or a name).
    pub async fn logged_in(app: &TestApp, project: &str) -> Cli {
        let cli = Cli::new();
        cli.login(app, Some(project), ADMIN_PASSWORD).await.ok();
        cli
    }

    /// `dbkill login` as the admin with `password` on stdin, scoped to `project` if given.
    pub async fn login(&self, app: &TestApp, project: Option<&str>, password: &str) -> Out {
        let mut args = vec!["login", "--server", &app.base, "--user", "admin"];
        if let Some(p) = project {
            args.extend(["--project", p]);
        }
        args.push("--password-stdin");
        self.input(&args, &format!("{password}\n")).await
    }

    pub async fn run(&self, args: &[&str]) -> Out {
        self.input(args, "").await
    }

    /// Runs `dbkill args…` with `stdin` as its whole standard input.
    pub async fn input(&self, args: &[&str], stdin: &str) -> Out {
        // tokio's process: a blocking wait would stall the runtime that serves the app.
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_dbkill"))
            .args(args)
            .env("DBKILL_CONFIG_DIR", self.config.path())
            .env("LANG", "C.UTF-8")
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("dbkill starts");
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(stdin.as_bytes()).await.unwrap();
        drop(pipe);
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("dbkill {args:?} did not finish within 60 s"))
            .unwrap();
        Out {
            code: out.status.code().expect("exited, not signalled"),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    /// `dbkill instances add` of an `engine` instance at `host:port`, with these protected users.
    pub async fn add_instance(
        &self,
        name: &str,
        engine: &str,
        host: &str,
        port: &str,
        protected: &[&str],
    ) -> Out {
        let mut args = vec![
            "instances",
            "add",
            "--name",
            name,
            "--type",
            engine,
            "--host",
            host,
            "--port",
            port,
        ];
        for user in protected {
            args.extend(["--protected-user", user]);
        }
        self.run(&args).await
    }

    /// The line of `dbkill instances list` that starts with `instance_id`, and the whole list.
    pub async fn instance_line(&self, instance_id: &str) -> (Out, String) {
        let list = self.run(&["instances", "list"]).await;
        let line = list
            .ok()
            .lines()
            .find(|l| l.starts_with(instance_id))
            .unwrap_or_else(|| panic!("{}", list.stdout))
            .to_owned();
        (list, line)
    }

    /// `dbkill db-users add --instance … --username … --password-stdin` with `password` on
    /// stdin, then `extra` arguments.
    pub async fn add_db_user(
        &self,
        instance: &str,
        username: &str,
        password: &str,
        extra: &[&str],
    ) -> Out {
        let mut args = vec![
            "db-users",
            "add",
            "--instance",
            instance,
            "--username",
            username,
            "--password-stdin",
        ];
        args.extend_from_slice(extra);
        self.input(&args, &format!("{password}\n")).await
    }

    /// `dbkill sessions list --instance … --user …`, then `extra` arguments. The future does
    /// not borrow `extra`, so a closure can hand it on.
    pub fn list_sessions<'a>(
        &'a self,
        instance: &'a str,
        user: &'a str,
        extra: &[&str],
    ) -> impl Future<Output = Out> + use<'a> {
        let mut args = vec!["sessions", "list", "--instance", instance, "--user", user];
        args.extend_from_slice(extra);
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            self.run(&refs).await
        }
    }

    pub fn login_file(&self) -> std::path::PathBuf {
        self.config.path().join("login.json")
    }
}

/// The session ids of `user`'s rows in a table, in the order shown: a number immediately
/// followed by the user column (count and summary lines never have that shape).
pub fn rows_of(table: &str, user: &str) -> Vec<u64> {
    table
        .lines()
        .filter_map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            t.windows(2)
                .find(|w| w[1] == user && w[0].parse::<u64>().is_ok())
                .map(|w| w[0].parse().unwrap())
        })
        .collect()
}

/// Fails the test unless the first line of a `sessions list` table names every column.
#[track_caller]
pub fn assert_sessions_header(table: &str) {
    let header = table.lines().next().unwrap_or_default();
    for col in [
        "ID", "USER", "HOST", "DB", "COMMAND", "TIME", "STATE", "TRX", "SQL",
    ] {
        assert!(header.contains(col), "{header}");
    }
}

/// The id ending in `suffix` (`in01`, `in03`, …) that `dbkill instances add` printed.
#[track_caller]
pub fn printed_instance_id(out: &Out, suffix: &str) -> String {
    out.ok()
        .split_whitespace()
        .find(|w| w.ends_with(suffix))
        .unwrap_or_else(|| panic!("an {suffix} id is printed: {}", out.stdout))
        .to_owned()
}
