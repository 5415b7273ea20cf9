//! Kill rules (DAS "kill tasks"): the conditions a session must meet to be killed automatically,
//! how a rule acts on a match, and the states a rule goes through.

use super::{DbUserId, KillType};

/// The ANDed conditions of a rule; `None` is an absent condition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleConditions {
    /// Account name, equal.
    pub user: Option<String>,
    /// Client address without its port, as an SQL `LIKE` pattern (`%`, `_`, `\` escapes).
    pub host: Option<String>,
    /// Current schema, equal.
    pub db: Option<String>,
    /// Command (`Query`, `Sleep`, …), equal ignoring case.
    pub command: Option<String>,
    /// A substring of the statement text, ignoring case.
    pub info: Option<String>,
    /// A substring of the session's state, ignoring case.
    pub state: Option<String>,
    /// Seconds in the current state, at least.
    pub time: i64,
    /// Seconds of the open transaction, at least.
    pub min_trx_time: Option<i64>,
}

/// A rule as asked for: what it matches and how it acts (DAS's kill-task body and dbkill's
/// extensions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSpec {
    /// `None`: the instance's default db user at each tick.
    pub db_user_id: Option<DbUserId>,
    pub name: String,
    pub task_type: String,
    pub conditions: RuleConditions,
    pub kill_type: KillType,
    pub mode: RuleMode,
    /// 0: no limit.
    pub max_kills_per_minute: u32,
    /// 0: never pauses.
    pub pause_above: u32,
    /// Seconds; -1 until stopped.
    pub task_duration: i64,
}

/// What a rule does with its matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RuleMode {
    /// Kills them.
    #[default]
    Enforce,
    /// Only counts them.
    Observe,
}

impl RuleMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "enforce" => Some(Self::Enforce),
            "observe" => Some(Self::Observe),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Observe => "observe",
        }
    }
}

/// DAS's `task_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskState {
    Running = 1,
    /// Terminated by a user, or its db user was deleted.
    Stopped = 2,
    /// Its duration ran out.
    Finished = 3,
    /// A tick would have killed more than `pause_above`.
    Paused = 4,
}

impl TaskState {
    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            1 => Some(Self::Running),
            2 => Some(Self::Stopped),
            3 => Some(Self::Finished),
            4 => Some(Self::Paused),
            _ => None,
        }
    }

    /// Counts against `rules_per_instance`.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Running | Self::Paused)
    }
}

/// The instance's switch: rules run only while it is on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RuleSwitch {
    On,
    #[default]
    Off,
}

impl RuleSwitch {
    /// `ON` / `OFF`, any case.
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("on") {
            Some(Self::On)
        } else if s.eq_ignore_ascii_case("off") {
            Some(Self::Off)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::On => "ON",
            Self::Off => "OFF",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_das_codes() {
        for s in [
            TaskState::Running,
            TaskState::Stopped,
            TaskState::Finished,
            TaskState::Paused,
        ] {
            assert_eq!(TaskState::from_code(s.code()), Some(s));
        }
        assert_eq!(TaskState::from_code(0), None);
        assert!(TaskState::Paused.is_active() && !TaskState::Finished.is_active());
    }

    #[test]
    fn switch_and_mode_parse_strictly() {
        assert_eq!(RuleSwitch::parse("oN"), Some(RuleSwitch::On));
        assert_eq!(RuleSwitch::parse("OFF"), Some(RuleSwitch::Off));
        assert_eq!(RuleSwitch::parse("yes"), None);
        assert_eq!(RuleMode::parse("observe"), Some(RuleMode::Observe));
        assert_eq!(RuleMode::parse("Observe"), None);
    }
}
