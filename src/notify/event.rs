//! A kill rule's webhook event: what happened (a kill batch or a pause), its JSON body as the
//! contract writes it, and the one human line (`text`) that Slack and Mattermost show as is.
//!
//! The event has no field for a session's SQL text, on purpose: statements carry literals
//! (emails, tokens) that must not leave dbkill through a chat channel.

use std::fmt::Write as _;

use serde::{Serialize, Serializer};

/// How many killed sessions the `text` line names before "and N more": a chat line stays
/// readable, and the JSON's `killed` list has them all.
const TEXT_SESSIONS: usize = 5;
/// The longest a name from an operator or a target (rule, instance, user, host) is shown in
/// `text`, in characters.
const TEXT_FIELD_CHARS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleEventKind {
    /// A tick killed sessions for the rule (JSON `"rule_kill"`).
    Killed,
    /// `pause_above` tripped: the tick killed nothing and paused the rule (JSON `"rule_paused"`).
    Paused,
}

impl RuleEventKind {
    fn as_str(self) -> &'static str {
        match self {
            RuleEventKind::Killed => "rule_kill",
            RuleEventKind::Paused => "rule_paused",
        }
    }
}

/// One event of one rule on one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleEvent {
    pub kind: RuleEventKind,
    pub project_id: String,
    pub instance_id: String,
    pub instance_name: String,
    pub task_id: i64,
    /// The rule's name; empty → the event says `rule:<task_id>`.
    pub rule_name: String,
    /// The sessions killed (a kill batch). A pause kills none, so its JSON `killed` is always
    /// `[]`.
    pub killed: Vec<KilledSession>,
    /// How many sessions the paused rule matched (JSON only for `rule_paused`).
    pub would_kill: usize,
    /// When it happened, Unix ms.
    pub time_ms: i64,
}

/// A session a rule killed, as the event reports it (no SQL text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KilledSession {
    /// A decimal string in JSON, as in the DAS shapes: ids can exceed what JavaScript's numbers
    /// hold exactly.
    #[serde(serialize_with = "decimal_string")]
    pub id: u64,
    pub user: String,
    pub host: String,
    pub db: String,
    pub command: String,
    /// Seconds the session had been in its state.
    pub time: i64,
}

fn decimal_string<S: Serializer>(id: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

/// The JSON body, in the contract's field order.
#[derive(Serialize)]
struct Body<'a> {
    event: &'static str,
    project_id: &'a str,
    instance_id: &'a str,
    instance_name: &'a str,
    task_id: i64,
    rule_name: &'a str,
    killed: &'a [KilledSession],
    #[serde(skip_serializing_if = "Option::is_none")]
    would_kill: Option<usize>,
    time: i64,
    text: String,
}

impl RuleEvent {
    /// The POST body.
    pub fn to_json(&self) -> Vec<u8> {
        let (killed, would_kill): (&[KilledSession], _) = match self.kind {
            RuleEventKind::Killed => (&self.killed, None),
            RuleEventKind::Paused => (&[], Some(self.would_kill)),
        };
        let body = Body {
            event: self.kind.as_str(),
            project_id: &self.project_id,
            instance_id: &self.instance_id,
            instance_name: &self.instance_name,
            task_id: self.task_id,
            rule_name: &self.rule_name,
            killed,
            would_kill,
            time: self.time_ms,
            text: self.text(),
        };
        serde_json::to_vec(&body).expect("an event of strings and integers serializes")
    }

    /// One human line, e.g. `dbkill: rule "long reports" (task 5) killed 2 sessions on
    /// prod-db: 123 (app@10.0.0.5, 12 s), 124 (app@10.0.0.6, 40 s)`.
    pub fn text(&self) -> String {
        let mut line = String::from("dbkill: rule ");
        if self.rule_name.is_empty() {
            let _ = write!(line, "\"rule:{}\"", self.task_id);
        } else {
            let _ = write!(
                line,
                "\"{}\" (task {})",
                shown(&self.rule_name),
                self.task_id
            );
        }
        let instance = if self.instance_name.is_empty() {
            &self.instance_id
        } else {
            &self.instance_name
        };
        let instance = shown(instance);
        match self.kind {
            RuleEventKind::Killed => {
                let n = self.killed.len();
                let _ = write!(line, " killed {n} {} on {instance}", sessions(n));
                for (i, s) in self.killed.iter().take(TEXT_SESSIONS).enumerate() {
                    line.push_str(if i == 0 { ": " } else { ", " });
                    let (user, host) = (shown(&s.user), shown(&s.host));
                    let _ = write!(line, "{} ({user}@{host}, {} s)", s.id, s.time);
                }
                if n > TEXT_SESSIONS {
                    let _ = write!(line, " and {} more", n - TEXT_SESSIONS);
                }
            }
            RuleEventKind::Paused => {
                let n = self.would_kill;
                let _ = write!(
                    line,
                    " paused on {instance}: it would have killed {n} {} at once, above its \
                     pause_above; nothing was killed",
                    sessions(n)
                );
            }
        }
        line
    }
}

fn sessions(n: usize) -> &'static str {
    if n == 1 { "session" } else { "sessions" }
}

/// A name as `text` shows it: on one line, at most [`TEXT_FIELD_CHARS`] characters, with `&`,
/// `<` and `>` escaped as Slack requires (a rule named `<!channel>` would otherwise notify the
/// whole channel); Mattermost's Markdown turns the entities back into the characters.
fn shown(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        if i == TEXT_FIELD_CHARS {
            out.push('…');
            break;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn session(id: u64, user: &str, host: &str, time: i64) -> KilledSession {
        KilledSession {
            id,
            user: user.into(),
            host: host.into(),
            db: "reports".into(),
            command: "Query".into(),
            time,
        }
    }

    fn kill_event(name: &str, killed: Vec<KilledSession>) -> RuleEvent {
        RuleEvent {
            kind: RuleEventKind::Killed,
            project_id: "p1".into(),
            instance_id: "i1".into(),
            instance_name: "prod-db".into(),
            task_id: 5,
            rule_name: name.into(),
            killed,
            would_kill: 0,
            time_ms: 1_700_000_000_123,
        }
    }

    fn json_of(event: &RuleEvent) -> Value {
        serde_json::from_slice(&event.to_json()).unwrap()
    }

    #[test]
    fn a_kill_batch_is_the_contracts_json_with_its_line() {
        let event = kill_event(
            "long reports",
            vec![
                session(123, "app", "10.0.0.5", 12),
                session(18_446_744_073_709_551_615, "etl", "10.0.0.6", 40),
            ],
        );
        assert_eq!(
            json_of(&event),
            json!({
                "event": "rule_kill",
                "project_id": "p1",
                "instance_id": "i1",
                "instance_name": "prod-db",
                "task_id": 5,
                "rule_name": "long reports",
                "killed": [
                    {"id": "123", "user": "app", "host": "10.0.0.5", "db": "reports",
                     "command": "Query", "time": 12},
                    {"id": "18446744073709551615", "user": "etl", "host": "10.0.0.6",
                     "db": "reports", "command": "Query", "time": 40},
                ],
                "time": 1_700_000_000_123_i64,
                "text": "dbkill: rule \"long reports\" (task 5) killed 2 sessions on prod-db: \
                         123 (app@10.0.0.5, 12 s), 18446744073709551615 (etl@10.0.0.6, 40 s)",
            })
        );
    }

    #[test]
    fn a_pause_carries_would_kill_and_no_sessions() {
        let mut event = kill_event("", vec![session(1, "app", "h", 3)]);
        event.kind = RuleEventKind::Paused;
        event.would_kill = 250;
        let body = json_of(&event);
        assert_eq!(body["event"], "rule_paused");
        assert_eq!(body["would_kill"], 250);
        assert_eq!(body["killed"], json!([]));
        assert_eq!(
            body["text"],
            "dbkill: rule \"rule:5\" paused on prod-db: it would have killed 250 sessions at \
             once, above its pause_above; nothing was killed"
        );
    }

    #[test]
    fn the_line_names_five_sessions_then_counts_the_rest() {
        let killed = (1..=8)
            .map(|id| session(id, "app", "10.0.0.9", 7))
            .collect();
        let text = kill_event("", killed).text();
        assert_eq!(
            text,
            "dbkill: rule \"rule:5\" killed 8 sessions on prod-db: 1 (app@10.0.0.9, 7 s), \
             2 (app@10.0.0.9, 7 s), 3 (app@10.0.0.9, 7 s), 4 (app@10.0.0.9, 7 s), \
             5 (app@10.0.0.9, 7 s) and 3 more"
        );
    }

    #[test]
    fn one_session_is_singular_and_a_nameless_instance_shows_its_id() {
        let mut event = kill_event("x", vec![session(9, "app", "h", 1)]);
        event.instance_name.clear();
        assert_eq!(
            event.text(),
            "dbkill: rule \"x\" (task 5) killed 1 session on i1: 9 (app@h, 1 s)"
        );
    }

    #[test]
    fn names_cannot_break_the_line_or_ping_a_channel() {
        let long = "n".repeat(100);
        let event = kill_event("<!channel> a&b\nnext", vec![session(9, &long, "h", 1)]);
        let text = event.text();
        assert!(!text.contains('\n'), "{text}");
        assert!(
            text.starts_with("dbkill: rule \"&lt;!channel&gt; a&amp;b next\" (task 5)"),
            "{text}"
        );
        assert!(
            text.contains(&format!("9 ({}…@h, 1 s)", "n".repeat(64))),
            "{text}"
        );
        // The JSON's own fields keep the values exactly.
        assert_eq!(json_of(&event)["rule_name"], "<!channel> a&b\nnext");
    }

    #[test]
    fn no_field_can_carry_sql_text() {
        let body = json_of(&kill_event("r", vec![session(1, "app", "h", 2)]));
        let keys = |v: &Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(
            keys(&body),
            [
                "event",
                "instance_id",
                "instance_name",
                "killed",
                "project_id",
                "rule_name",
                "task_id",
                "text",
                "time"
            ]
        );
        assert_eq!(
            keys(&body["killed"][0]),
            ["command", "db", "host", "id", "time", "user"]
        );
    }
}
