//! The messages of `dbkill rules …`, in English and Chinese.

use super::{Lang, sessions};

impl Lang {
    /// A rule's `task_state` in words; an unknown code is shown as is.
    pub fn rule_state(self, code: i64) -> String {
        let (en, zh) = match code {
            1 => ("running", "运行中"),
            2 => ("stopped", "已停止"),
            3 => ("finished", "已结束"),
            4 => ("paused", "已暂停"),
            _ => return code.to_string(),
        };
        self.pick(en.into(), zh.into())
    }

    pub fn until_stopped(self) -> String {
        self.pick("until stopped".into(), "直到停止".into())
    }

    pub fn rule_matches(self, n: i64) -> String {
        let n = usize::try_from(n).unwrap_or(0);
        let verb = if n == 1 { "matches" } else { "match" };
        self.pick(
            format!("{} {verb} the rule now:", sessions(n)),
            format!("当前有 {n} 个会话匹配该规则："),
        )
    }

    pub fn rule_matches_shown(self, shown: usize, total: i64) -> String {
        self.pick(
            format!("(showing {shown} of {total})"),
            format!("（显示 {total} 个中的 {shown} 个）"),
        )
    }

    pub fn rule_matches_nothing(self) -> String {
        self.pick(
            "No session matches the rule now.".into(),
            "当前没有会话匹配该规则。".into(),
        )
    }

    /// The question before adding a rule that, right now, would kill `n` sessions with `kind`.
    pub fn confirm_rule(self, n: i64, kind: &str, observe: bool) -> String {
        let n = usize::try_from(n).unwrap_or(0);
        if observe {
            self.pick(
                "Add this rule (observe: it counts matching sessions, never kills them)? [y/N] "
                    .into(),
                "确定添加该规则吗（观察模式：只统计匹配的会话，从不终止）？[y/N] ".into(),
            )
        } else if n == 0 {
            self.pick(
                "Add this rule? [y/N] ".into(),
                "确定添加该规则吗？[y/N] ".into(),
            )
        } else {
            self.pick(
                format!(
                    "Add this rule? Right now it would kill {} ({kind}). [y/N] ",
                    sessions(n)
                ),
                format!("确定添加该规则吗？当前它将终止 {n} 个会话（{kind}）。[y/N] "),
            )
        }
    }

    pub fn rule_not_added(self) -> String {
        self.pick("No rule was added.".into(), "没有添加规则。".into())
    }

    pub fn rule_added(self, id: i64) -> String {
        self.pick(format!("Rule {id} added."), format!("已添加规则 {id}。"))
    }

    pub fn rule_stopped(self, id: u64) -> String {
        self.pick(format!("Rule {id} stopped."), format!("已停止规则 {id}。"))
    }

    /// The warning when the switch of `instance` is OFF (printed after "warning: ").
    pub fn switch_is_off(self, instance: &str) -> String {
        self.pick(
            format!(
                "the switch of instance {instance} is OFF, and rules run only while the switch is ON: dbkill rules switch on --instance {instance}"
            ),
            format!(
                "实例 {instance} 的开关为 OFF，规则仅在开关为 ON 时运行：dbkill rules switch on --instance {instance}"
            ),
        )
    }

    pub fn warning_prefix(self) -> &'static str {
        match self {
            Lang::En => "warning: ",
            Lang::Zh => "警告：",
        }
    }

    /// `status` is `ON` or `OFF`, as the server says it.
    pub fn switch_status(self, instance: &str, status: &str) -> String {
        self.pick(
            format!("The switch of instance {instance} is {status}."),
            format!("实例 {instance} 的开关为 {status}。"),
        )
    }

    pub fn switch_set(self, instance: &str, on: bool) -> String {
        if on {
            self.pick(
                format!("The switch of instance {instance} is now ON: its running rules kill."),
                format!("实例 {instance} 的开关已设为 ON：运行中的规则将终止匹配的会话。"),
            )
        } else {
            self.pick(
                format!(
                    "The switch of instance {instance} is now OFF: no rule kills until it is ON again."
                ),
                format!("实例 {instance} 的开关已设为 OFF：在重新设为 ON 之前，规则不会终止任何会话。"),
            )
        }
    }
}
