//! The CLI's own messages in English and Chinese, and how the language is chosen: `--lang`, else
//! `LC_ALL` / `LC_MESSAGES` / `LANG` (the first one set) starting with `zh`. The server's error
//! messages follow the same choice through `X-Language`.

mod rules;

/// "1 session", "2 sessions".
fn sessions(n: usize) -> String {
    if n == 1 {
        "1 session".into()
    } else {
        format!("{n} sessions")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    /// `flag` is the `--lang` value (already checked by clap to be en/en-us/zh/zh-cn).
    pub fn detect(flag: Option<&str>) -> Lang {
        if let Some(f) = flag {
            return Self::from_tag(f);
        }
        // POSIX precedence: the first of these that is set and not empty decides.
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
            .map_or(Lang::En, |v| Self::from_tag(&v))
    }

    fn from_tag(tag: &str) -> Lang {
        if tag.to_ascii_lowercase().starts_with("zh") {
            Lang::Zh
        } else {
            Lang::En
        }
    }

    /// The `X-Language` header value that makes the server answer in this language.
    pub fn header(self) -> &'static str {
        match self {
            Lang::En => "en-us",
            Lang::Zh => "zh-cn",
        }
    }

    fn pick(self, en: String, zh: String) -> String {
        match self {
            Lang::En => en,
            Lang::Zh => zh,
        }
    }

    pub fn error_prefix(self) -> &'static str {
        match self {
            Lang::En => "error: ",
            Lang::Zh => "错误：",
        }
    }

    pub fn not_logged_in(self) -> String {
        self.pick(
            "Not logged in: run `dbkill login --server URL --user NAME` first.".into(),
            "尚未登录：请先运行 `dbkill login --server URL --user NAME`。".into(),
        )
    }

    pub fn login_expired(self, at: &str) -> String {
        self.pick(
            format!("Your login expired at {at}: run `dbkill login` again."),
            format!("登录已于 {at} 过期：请重新运行 `dbkill login`。"),
        )
    }

    pub fn login_refused_hint(self) -> String {
        self.pick(
            "(run `dbkill login` to log in again)".into(),
            "（请运行 `dbkill login` 重新登录）".into(),
        )
    }

    pub fn unreachable(self, server: &str, detail: &str) -> String {
        self.pick(
            format!("Cannot reach the dbkill server at {server}: {detail}"),
            format!("无法连接 dbkill 服务器 {server}：{detail}"),
        )
    }

    pub fn timed_out(self, server: &str) -> String {
        self.pick(
            format!("The dbkill server at {server} did not answer in time."),
            format!("dbkill 服务器 {server} 未在限定时间内响应。"),
        )
    }

    pub fn bad_answer(self, status: u16, detail: &str) -> String {
        self.pick(
            format!("Unexpected answer from the server (HTTP {status}): {detail}"),
            format!("服务器返回了无法识别的响应（HTTP {status}）：{detail}"),
        )
    }

    pub fn bad_ca(self, path: &str, detail: &str) -> String {
        self.pick(
            format!("Cannot use the CA certificate {path}: {detail}"),
            format!("无法使用 CA 证书 {path}：{detail}"),
        )
    }

    pub fn bad_server_url(self, url: &str) -> String {
        self.pick(
            format!("The server URL {url:?} must start with http:// or https://."),
            format!("服务器地址 {url:?} 必须以 http:// 或 https:// 开头。"),
        )
    }

    pub fn login_needs_server(self) -> String {
        self.pick(
            "`dbkill login` needs --server URL (e.g. http://127.0.0.1:8080).".into(),
            "`dbkill login` 需要 --server URL（例如 http://127.0.0.1:8080）。".into(),
        )
    }

    pub fn no_password(self) -> String {
        self.pick(
            "No password: pass --password-stdin and write it to standard input, or run in a terminal.".into(),
            "未提供密码：请使用 --password-stdin 并从标准输入写入密码，或在终端中运行。".into(),
        )
    }

    pub fn empty_password(self) -> String {
        self.pick("The password is empty.".into(), "密码为空。".into())
    }

    pub fn password_prompt(self, whose: &str) -> String {
        self.pick(
            format!("Password for {whose}: "),
            format!("{whose} 的密码："),
        )
    }

    pub fn config_io(self, path: &str, detail: &str) -> String {
        self.pick(
            format!("Cannot use the login file {path}: {detail}"),
            format!("无法使用登录文件 {path}：{detail}"),
        )
    }

    pub fn no_config_dir(self) -> String {
        self.pick(
            "No config directory: set DBKILL_CONFIG_DIR, XDG_CONFIG_HOME or HOME.".into(),
            "找不到配置目录：请设置 DBKILL_CONFIG_DIR、XDG_CONFIG_HOME 或 HOME。".into(),
        )
    }

    pub fn logged_in(self, user: &str, server: &str, project: &str, until: &str) -> String {
        self.pick(
            format!("Logged in to {server} as {user}, project {project}; valid until {until}."),
            format!("已以 {user} 身份登录 {server}，项目 {project}；有效期至 {until}。"),
        )
    }

    pub fn no_project_name(self) -> String {
        self.pick("(none)".into(), "（无）".into())
    }

    pub fn login_saved(self, path: &str) -> String {
        self.pick(
            format!("The login is kept in {path}."),
            format!("登录信息保存在 {path}。"),
        )
    }

    pub fn no_project(self) -> String {
        self.pick(
            "No project chosen: pass --project NAME_OR_ID, or log in with --project.".into(),
            "未指定项目：请使用 --project 名称或 ID，或登录时指定 --project。".into(),
        )
    }

    pub fn unknown_project(self, p: &str) -> String {
        self.pick(
            format!("No project {p:?} that you may use."),
            format!("不存在您可使用的项目 {p:?}。"),
        )
    }

    pub fn unknown_instance(self, i: &str) -> String {
        self.pick(
            format!("No instance {i:?} in this project (see `dbkill instances list`)."),
            format!("该项目中不存在实例 {i:?}（参见 `dbkill instances list`）。"),
        )
    }

    pub fn ambiguous_instance(self, name: &str) -> String {
        self.pick(
            format!("Several instances are named {name:?}: give the instance id."),
            format!("有多个实例名为 {name:?}：请指定实例 ID。"),
        )
    }

    pub fn unknown_db_user(self, u: &str) -> String {
        self.pick(
            format!("No db user {u:?} on this instance (see `dbkill db-users list`)."),
            format!("该实例上不存在数据库用户 {u:?}（参见 `dbkill db-users list`）。"),
        )
    }

    pub fn no_db_user(self) -> String {
        self.pick(
            "This instance has no db user: add one with `dbkill db-users add`.".into(),
            "该实例没有数据库用户：请先使用 `dbkill db-users add` 添加。".into(),
        )
    }

    pub fn choose_db_user(self, names: &str) -> String {
        self.pick(
            format!("This instance has several db users ({names}): pass --db-user."),
            format!("该实例有多个数据库用户（{names}）：请使用 --db-user 指定。"),
        )
    }

    pub fn instance_added(self, name: &str, id: &str) -> String {
        self.pick(
            format!("Instance {name} added: {id}"),
            format!("已添加实例 {name}：{id}"),
        )
    }

    pub fn instance_removed(self, name: &str, id: &str) -> String {
        self.pick(
            format!("Instance {name} ({id}) removed."),
            format!("已删除实例 {name}（{id}）。"),
        )
    }

    pub fn db_user_added(self, name: &str, id: &str) -> String {
        self.pick(
            format!("DB user {name} registered: {id}"),
            format!("已注册数据库用户 {name}：{id}"),
        )
    }

    pub fn db_user_removed(self, name: &str, id: &str) -> String {
        self.pick(
            format!("DB user {name} ({id}) removed."),
            format!("已删除数据库用户 {name}（{id}）。"),
        )
    }

    /// `what_en` in the singular; every noun counted here takes a plain `s`.
    pub fn count(self, n: usize, what_en: &str, what_zh: &str) -> String {
        let s = if n == 1 { "" } else { "s" };
        self.pick(format!("{n} {what_en}{s}"), format!("共 {n} 个{what_zh}"))
    }

    pub fn history_count(self, shown: usize, total: i64) -> String {
        self.pick(
            format!("{shown} of {total} killed sessions"),
            format!("已终止会话共 {total} 个，显示 {shown} 个"),
        )
    }

    pub fn kill_needs_filter(self) -> String {
        self.pick(
            "Say what to kill: at least one of --id, --user, --database.".into(),
            "请指定要终止的会话：--id、--user、--database 至少指定一个。".into(),
        )
    }

    pub fn plan_header(self, n: usize, kind: &str) -> String {
        self.pick(
            format!("{} will be killed ({kind}):", sessions(n)),
            format!("将终止 {n} 个会话（{kind}）："),
        )
    }

    pub fn plan_skipped(self, n: usize) -> String {
        self.pick(
            format!("{} matching the filters will be skipped:", sessions(n)),
            format!("将跳过 {n} 个匹配的会话："),
        )
    }

    pub fn skipped_header(self, n: usize) -> String {
        self.pick(
            format!("{} skipped:", sessions(n)),
            format!("跳过 {n} 个会话："),
        )
    }

    pub fn not_found(self, ids: &str) -> String {
        self.pick(
            format!("No session with id: {ids}"),
            format!("不存在的会话 ID：{ids}"),
        )
    }

    pub fn nothing_to_kill(self) -> String {
        self.pick("No session to kill.".into(), "没有需要终止的会话。".into())
    }

    pub fn dry_run_done(self) -> String {
        self.pick(
            "Dry run: nothing was killed.".into(),
            "预演：没有终止任何会话。".into(),
        )
    }

    pub fn confirm(self, n: usize) -> String {
        self.pick(
            if n == 1 {
                "Kill this session? [y/N] ".into()
            } else {
                format!("Kill these {n} sessions? [y/N] ")
            },
            format!("确定终止这 {n} 个会话吗？[y/N] "),
        )
    }

    /// Whether an answer to [`Lang::confirm`] means yes; anything else, EOF included, is no.
    pub fn is_yes(answer: &str) -> bool {
        let a = answer.trim();
        a.eq_ignore_ascii_case("y") || a.eq_ignore_ascii_case("yes") || a == "是"
    }

    pub fn aborted(self) -> String {
        self.pick("Nothing was killed.".into(), "没有终止任何会话。".into())
    }

    pub fn killed_header(self, n: usize) -> String {
        self.pick(
            format!("{} killed:", sessions(n)),
            format!("已终止 {n} 个会话："),
        )
    }

    pub fn failed_header(self, n: usize) -> String {
        self.pick(
            format!("{} could not be killed:", sessions(n)),
            format!("{n} 个会话终止失败："),
        )
    }

    pub fn kill_summary(
        self,
        killed: usize,
        gone: usize,
        skipped: usize,
        not_found: usize,
        failed: usize,
    ) -> String {
        self.pick(
            format!(
                "Killed {killed} ({gone} gone), skipped {skipped}, not found {not_found}, failed {failed}."
            ),
            format!(
                "已终止 {killed} 个（{gone} 个已退出），跳过 {skipped} 个，不存在 {not_found} 个，失败 {failed} 个。"
            ),
        )
    }

    pub fn kill_interrupted(self) -> String {
        self.pick(
            "The kill stopped part way; what was done so far:".into(),
            "终止操作中途停止；已完成的部分：".into(),
        )
    }

    pub fn yes_no(self, b: bool) -> &'static str {
        match (self, b) {
            (Lang::En, true) => "yes",
            (Lang::En, false) => "no",
            (Lang::Zh, true) => "是",
            (Lang::Zh, false) => "否",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_starting_with_zh_are_chinese() {
        for t in ["zh", "zh-cn", "ZH-CN", "zh_CN.UTF-8", "zh_TW"] {
            assert_eq!(Lang::from_tag(t), Lang::Zh, "{t}");
        }
        for t in ["en", "en-us", "C", "C.UTF-8", "de_DE.UTF-8", ""] {
            assert_eq!(Lang::from_tag(t), Lang::En, "{t}");
        }
    }

    #[test]
    fn only_explicit_yes_confirms() {
        for a in ["y", "Y\n", " yes ", "YES", "是"] {
            assert!(Lang::is_yes(a), "{a:?}");
        }
        for a in ["", "\n", "n", "no", "yess", "ok", "否", "y es"] {
            assert!(!Lang::is_yes(a), "{a:?}");
        }
    }

    #[test]
    fn the_flag_beats_the_environment() {
        assert_eq!(Lang::detect(Some("zh-cn")), Lang::Zh);
        assert_eq!(Lang::detect(Some("en")), Lang::En);
    }
}
