//! The goals of issue #11, per scene and N: dbkill by user within 1.25 × the best peer + 30 ms
//! (the fastest time-to-zero median of `KILL USER`, the client loop, the 8-connection loop and
//! pt-kill), every dbkill answer exact, no dbkill KILL after its answer; in `stalled` also the
//! answer within the deadline + 1 s and the history equal to what died within 30 s of SIGCONT.

use std::time::Duration;

use crate::methods::Method;
use crate::report::{Stats, Table, median, ms, verdict};
use crate::run::Run;
use crate::scenes::Scene;
use crate::{general_log, history};

/// The answer may come this long after the deadline sent.
const DEADLINE_SLACK: Duration = Duration::from_secs(1);

pub fn table(runs: &[Run], plan: &[(Scene, Vec<usize>)]) -> Table {
    let mut t = Table::new(&["scene", "N", "goal", "measured", "limit", "result"]);
    for (scene, sizes) in plan {
        for &n in sizes {
            let mine: Vec<&Run> = runs
                .iter()
                .filter(|r| r.scene == *scene && r.n == n)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let mut row = |goal: &str, measured: String, limit: String, result: String| {
                t.rows.push(vec![
                    scene.key().to_owned(),
                    n.to_string(),
                    goal.to_owned(),
                    measured,
                    limit,
                    result,
                ]);
            };
            let stats = |m| Stats::of(runs, *scene, n, m);
            let best = Method::PEERS
                .into_iter()
                .filter_map(|m| Some((m, stats(m).zero()?)))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            let du = stats(Method::DbkillUser);
            if du.runs > 0 {
                let limit = best.map(|(_, b)| 1.25 * b + 30.0);
                row(
                    "dbkill-user ≤ 1.25 × best peer + 30 ms",
                    match best {
                        Some((m, b)) => format!("{} (best: {} {b:.1} ms)", ms(du.zero()), m.key()),
                        None => format!("{} (no peer reached zero in every run)", ms(du.zero())),
                    },
                    ms(limit),
                    verdict(du.zero().zip(limit).map(|(d, l)| d <= l)),
                );
            }
            let dbkill: Vec<&Run> = mine
                .iter()
                .copied()
                .filter(|r| r.method.is_dbkill())
                .collect();
            if dbkill.is_empty() {
                continue;
            }
            let count = |ok: &dyn Fn(&Run) -> bool| dbkill.iter().filter(|r| ok(r)).count();
            let all = dbkill.len();
            let exact = count(&|r| r.report.as_ref().is_some_and(|c| c.exact));
            row(
                "answers exact",
                format!("{exact}/{all}"),
                "all".into(),
                verdict(Some(exact == all)),
            );
            if scene.general_log() {
                let clean = count(&|r| r.late_kills.as_ref().is_some_and(|l| l.ok()));
                row(
                    "no KILL after the answer (general log)",
                    format!("{clean}/{all} runs clean"),
                    format!("{} ms margin", general_log::MARGIN_US as f64 / 1e3),
                    verdict(Some(clean == all)),
                );
            } else {
                row(
                    "no KILL after the answer",
                    "not checked: general log off in idle".into(),
                    "–".into(),
                    "–".into(),
                );
            }
            let Some(deadline) = scene.deadline_ms().map(Duration::from_millis) else {
                continue;
            };
            let limit = deadline + DEADLINE_SLACK;
            let in_time = count(&|r| r.report.is_some() && r.returned <= limit);
            let slowest = dbkill.iter().map(|r| r.returned).max().unwrap_or_default();
            row(
                "answer ≤ deadline + 1 s",
                format!(
                    "{in_time}/{all} (slowest {:.1} ms)",
                    slowest.as_secs_f64() * 1e3
                ),
                format!("{} ms", limit.as_millis()),
                verdict(Some(in_time == all)),
            );
            let matched = count(&|r| {
                r.history
                    .as_ref()
                    .is_some_and(|h| h.matched_after.is_some())
            });
            row(
                "history equals what died within 30 s of resume",
                format!("{matched}/{all}"),
                format!("{} s", history::WITHIN.as_secs()),
                verdict(Some(matched == all)),
            );
            let after = |m: Method| {
                let mut v: Vec<f64> = mine
                    .iter()
                    .filter(|r| r.method == m)
                    .filter_map(|r| r.zero_after_resume())
                    .map(|d| d.as_secs_f64() * 1e3)
                    .collect();
                median(&mut v)
            };
            let peers = Method::PEERS
                .into_iter()
                .filter_map(|m| Some(format!("{} {:.1}", m.key(), after(m)?)))
                .collect::<Vec<_>>()
                .join(", ");
            let escaped = Method::ALL
                .into_iter()
                .filter_map(|m| {
                    let of_m = mine.iter().filter(|r| r.method == m);
                    let k = of_m.clone().filter(|r| r.escaped_stall()).count();
                    (k > 0).then(|| format!("{} {k}/{}", m.key(), of_m.count()))
                })
                .collect::<Vec<_>>();
            row(
                "runs at zero before the stop, never stalled (no goal)",
                if escaped.is_empty() {
                    "none".to_owned()
                } else {
                    escaped.join(", ")
                },
                "–".into(),
                "info".into(),
            );
            row(
                "time to zero after resume (no goal)",
                format!("dbkill-user {}; {peers}", ms(after(Method::DbkillUser))),
                "–".into(),
                "info".into(),
            );
        }
    }
    t
}
