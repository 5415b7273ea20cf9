//! Is dbkill's kill answer exact? In `idle` (as issue #4 judged it): HTTP 200 whose `killed`
//! names exactly the N victims, nothing failed or not found. In the other scenes, against the
//! server: every victim in exactly one outcome list and nothing else; `killed` and `not_found`
//! victims really ended (not listed at the end of the run; a `gone` one not listed right after
//! the answer either); `failed` (and `not_killed`) victims listed right after the answer and
//! still at the end (no KILL reached them later); `uncertain` ones may be either.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::victims::USER;

/// How dbkill answered a kill.
pub struct ReportCheck {
    pub killed: usize,
    pub gone: usize,
    pub exact: bool,
    pub summary: String,
}

/// What the server showed around the answer (scenes other than `idle`).
pub struct ServerTruth<'a> {
    /// Victims listed by the first processlist read after the answer.
    pub after_answer: &'a HashSet<u64>,
    /// Victims listed at the end of the run (before clean-up).
    pub at_end: &'a HashSet<u64>,
}

/// The outcome lists of an answer, by session id.
struct Parsed {
    /// (id, user, gone) of each `killed` entry.
    killed: Vec<(Option<u64>, Option<String>, bool)>,
    lists: HashMap<&'static str, Vec<Option<u64>>>,
    skipped: usize,
}

const ID_LISTS: [&str; 4] = ["failed", "not_found", "uncertain", "not_killed"];

/// How dbkill's message marks a `failed` entry whose KILL reached a server that then stopped
/// answering: the KILL may still take effect (the kill history is corrected later).
const MAY_STILL_TAKE_EFFECT: &str = "may still take effect";

fn parse(v: &Value) -> Parsed {
    let list = |key: &str| {
        v.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    // `not_found` lists bare ids; the others objects with an `id`.
    let id = |e: &Value| {
        e.get("id")
            .unwrap_or(e)
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
    };
    Parsed {
        killed: list("killed")
            .iter()
            .map(|k| {
                (
                    id(k),
                    k.get("user").and_then(Value::as_str).map(str::to_owned),
                    k.get("gone").and_then(Value::as_bool) == Some(true),
                )
            })
            .collect(),
        lists: ID_LISTS
            .into_iter()
            .map(|key| {
                let entries = list(key);
                // Unconfirmed `failed` entries count as `uncertain`: they may die later.
                let ids = entries
                    .iter()
                    .chain(
                        if key == "uncertain" {
                            list("failed")
                        } else {
                            vec![]
                        }
                        .iter(),
                    )
                    .filter(|e| match key {
                        "failed" => !unconfirmed(e),
                        "uncertain" => e.get("error_code").is_none() || unconfirmed(e),
                        _ => true,
                    })
                    .map(id)
                    .collect();
                (key, ids)
            })
            .collect(),
        skipped: list("skipped").len(),
    }
}

fn unconfirmed(e: &Value) -> bool {
    e.get("error_msg")
        .and_then(Value::as_str)
        .is_some_and(|m| m.contains(MAY_STILL_TAKE_EFFECT))
}

/// Checks a KillSession answer on the victims `ids`; `truth` outside `idle`.
pub fn check_report(
    status: u16,
    body: &[u8],
    ids: &[u64],
    truth: Option<&ServerTruth>,
) -> ReportCheck {
    let value: Option<Value> = serde_json::from_slice(body).ok();
    let p = parse(value.as_ref().unwrap_or(&Value::Null));
    let expected: HashSet<u64> = ids.iter().copied().collect();
    let killed_ids: HashSet<u64> = p.killed.iter().filter_map(|k| k.0).collect();
    let gone = p.killed.iter().filter(|k| k.2).count();
    let all_victims = p.killed.iter().all(|k| k.1.as_deref() == Some(USER));
    let n = |key: &str| p.lists[key].len();
    let mut summary = format!(
        "HTTP {status}, killed {}/{} ({} distinct, {gone} gone), skipped {}, not_found {}, failed {}",
        p.killed.len(),
        ids.len(),
        killed_ids.len(),
        p.skipped,
        n("not_found"),
        n("failed")
    );
    for key in ["uncertain", "not_killed"] {
        if n(key) > 0 {
            summary += &format!(", {key} {}", n(key));
        }
    }
    let answered = status == 200 && value.is_some();
    let exact = match truth {
        None => {
            answered
                && p.killed.len() == ids.len()
                && killed_ids == expected
                && all_victims
                && n("failed") == 0
                && n("not_found") == 0
        }
        Some(t) => {
            let problems = against_server(&p, &expected, t);
            if !problems.is_empty() {
                summary += &format!("; vs server: {}", problems.join(", "));
            }
            answered && all_victims && problems.is_empty()
        }
    };
    if !answered {
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        summary.push_str(&format!("; body: {text}"));
    }
    ReportCheck {
        killed: p.killed.len(),
        gone,
        exact,
        summary,
    }
}

/// What in the answer the server contradicts (empty: nothing).
fn against_server(p: &Parsed, expected: &HashSet<u64>, t: &ServerTruth) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen: HashMap<u64, usize> = HashMap::new();
    let mut unparsed = 0;
    let all = p
        .killed
        .iter()
        .map(|k| k.0)
        .chain(p.lists.values().flatten().copied());
    for id in all {
        match id {
            Some(id) => *seen.entry(id).or_default() += 1,
            None => unparsed += 1,
        }
    }
    let twice = seen.values().filter(|&&c| c > 1).count();
    let strangers = seen.keys().filter(|i| !expected.contains(i)).count();
    let unaccounted = expected.iter().filter(|i| !seen.contains_key(i)).count();
    let mut note = |count: usize, what: &str| {
        if count > 0 {
            problems.push(format!("{count} {what}"));
        }
    };
    note(unparsed, "entries without an id");
    note(twice, "ids in two lists");
    note(strangers, "ids not victims");
    note(unaccounted, "victims in no list");
    let ended = |id: &u64| !t.at_end.contains(id);
    note(
        p.killed
            .iter()
            .filter_map(|k| k.0)
            .filter(|i| !ended(i))
            .count(),
        "killed still alive at the end",
    );
    note(
        p.killed
            .iter()
            .filter(|k| k.2 && k.0.is_some_and(|i| t.after_answer.contains(&i)))
            .count(),
        "gone but listed after the answer",
    );
    note(
        p.lists["not_found"]
            .iter()
            .flatten()
            .filter(|i| !ended(i))
            .count(),
        "not_found still alive at the end",
    );
    note(
        ["failed", "not_killed"]
            .iter()
            .flat_map(|k| p.lists[k].iter().flatten())
            .filter(|i| !t.after_answer.contains(i) || ended(i))
            .count(),
        "failed but died",
    );
    problems
}
