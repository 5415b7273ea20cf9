//! The results as Markdown (readable as text, pasted into BENCHMARKS.md): machine facts, each
//! scene's runs, and one table of issue #13's goals with the measured value, the peer's figure
//! and whether the goal held.

use std::fmt::Write;

use crate::idle_cost::IdleCost;
use crate::machine::MachineInfo;
use crate::mass::{self, MassRun};
use crate::reaction::{Killer, ReactionRun};
use crate::tick_cost::TickCost;

/// Everything measured, and what the goals are relative to.
pub struct Results {
    pub command: String,
    pub interval_ms: f64,
    pub reaction: Vec<ReactionRun>,
    pub reaction_n: usize,
    pub mass: Vec<MassRun>,
    pub mass_n: usize,
    pub tick: Option<TickCost>,
    pub idle: Option<IdleCost>,
    /// Scenes that failed, with the error.
    pub failed: Vec<String>,
}

/// Median and maximum, a run without a figure (it never reached zero) counting as infinitely
/// slow; `None` without runs.
fn p50_max(values: &[Option<f64>]) -> Option<(f64, f64)> {
    let mut v: Vec<f64> = values.iter().map(|v| v.unwrap_or(f64::INFINITY)).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    let p50 = if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    };
    Some((p50, v[v.len() - 1]))
}

/// A time in ms; "never" for a run that did not reach zero before the probe gave up.
fn ms(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.0} ms"),
        _ => "never".to_owned(),
    }
}

fn verdict(held: Option<bool>) -> &'static str {
    match held {
        Some(true) => "held",
        Some(false) => "MISSED",
        None => "–",
    }
}

impl Results {
    pub fn markdown(&self, info: &MachineInfo) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "`{}` — {}", self.command, info.date);
        let _ = writeln!(
            out,
            "\nMachine: {} × {}, {}, {}; {}; {}; dbkill {} ({}); load before: {}\n",
            info.nproc,
            info.cpu,
            info.memory,
            info.kernel,
            info.mariadb,
            info.pt_kill,
            info.dbkill_tree,
            info.dbkill_binary,
            info.load
        );
        self.reaction_table(&mut out);
        self.mass_table(&mut out);
        self.tick_table(&mut out);
        self.idle_table(&mut out);
        self.goals_table(&mut out);
        for f in &self.failed {
            let _ = writeln!(out, "\nNot measured: {f}");
        }
        out
    }

    fn reaction_table(&self, out: &mut String) {
        if self.reaction.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "#### Reaction: {} sessions start SELECT SLEEP(600) at once; last start + 2 s → none \
             listed (first gone: when the first was)\n\n| run | killer | first gone | reaction | starts \
             spread | rule's killed_total + | other processes | problem |\n\
             |---|---|---|---|---|---|---|---|",
            self.reaction_n
        );
        for (i, r) in self.reaction.iter().enumerate() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.0} ms | {} | {:.2} cores | {} |",
                i + 1,
                r.killer.key(),
                ms(r.first_ms),
                ms(r.reaction_ms),
                r.spread_ms,
                r.rule_killed,
                r.other_cores,
                r.problem.as_deref().unwrap_or("")
            );
        }
        out.push('\n');
    }

    fn mass_table(&self, out: &mut String) {
        if self.mass.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "#### Mass match: {} idle sessions; switch ON answer (rule added before) or KILL USER \
             sent → none listed\n\n| run | method | time to zero | rule's killed_total | other processes | \
             problem |\n|---|---|---|---|---|---|",
            self.mass_n
        );
        for (i, r) in self.mass.iter().enumerate() {
            let killed = r.rule_killed.map_or(String::new(), |k| k.to_string());
            let _ = writeln!(
                out,
                "| {} | {} | {} | {killed} | {:.2} cores | {} |",
                i + 1,
                r.method.key(),
                ms(r.zero_ms),
                r.other_cores,
                r.problem.as_deref().unwrap_or("")
            );
        }
        out.push('\n');
    }

    fn tick_table(&self, out: &mut String) {
        let Some(t) = &self.tick else { return };
        let mean = |h: &Option<crate::prom::HistogramDelta>| {
            h.as_ref()
                .and_then(|h| h.mean())
                .map_or("not exported".to_owned(), |m| format!("{:.2} ms", m * 1e3))
        };
        let within = t.matching.as_ref().map_or("–".to_owned(), |h| {
            h.within
                .map_or("–".to_owned(), |w| format!("{w:.0} of {:.0}", h.count))
        });
        let _ = writeln!(
            out,
            "#### Tick cost: {} idle sessions, {} rules matching none, {:.0} ticks measured\n\n\
             | figure | value |\n|---|---|\n\
             | matching per tick (dbkill_rule_match_seconds, mean) | {} |\n\
             | ticks whose matching took ≤ 5 ms | {within} |\n\
             | whole tick (dbkill_rule_tick_seconds, mean) | {} |\n\
             | mysqld CPU per tick, net of idle | {:.2} ms |\n\
             | mysqld CPU per SHOW FULL PROCESSLIST from a client, net of idle | {:.2} ms |\n\
             | SHOW FULL PROCESSLIST from a client, wall time (median) | {:.2} ms |\n\
             | dbkill CPU per tick | {:.2} ms |\n\
             | mysqld idle (sessions open, switch OFF) | {:.3} cores |\n\
             | other processes (idle / client / rules windows) | {:.2} / {:.2} / {:.2} cores |",
            t.n,
            t.rules,
            t.ticks,
            mean(&t.matching),
            mean(&t.tick),
            t.mysqld_per_tick * 1e3,
            t.mysqld_per_show * 1e3,
            t.show_wall * 1e3,
            t.dbkill_per_tick * 1e3,
            t.idle_cores,
            t.other_cores[0],
            t.other_cores[1],
            t.other_cores[2],
        );
        if let Some(p) = &t.problem {
            let _ = writeln!(out, "\nProblem: {p}");
        }
        out.push('\n');
    }

    fn idle_table(&self, out: &mut String) {
        let Some(i) = &self.idle else { return };
        let _ = writeln!(
            out,
            "#### Idle cost: {} instances × 1 rule matching nothing, {:.0} s\n\n\
             | figure | value |\n|---|---|\n\
             | dbkill CPU | {:.2} % of one core |\n\
             | rule ticks (all instances) | {:.1} per s |\n\
             | mysqld CPU | {:.2} % of one core |\n\
             | other processes | {:.2} cores |\n",
            i.instances,
            i.secs,
            i.dbkill_cores * 100.0,
            i.ticks_per_sec,
            i.mysqld_cores * 100.0,
            i.other_cores
        );
    }

    fn goals_table(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "#### Goals (issue #13)\n\n| scene | goal | measured | peer, same run | result |\n\
             |---|---|---|---|---|"
        );
        let limit = self.interval_ms + 300.0;
        if !self.reaction.is_empty() {
            let of = |k: Killer| {
                let v: Vec<Option<f64>> = self
                    .reaction
                    .iter()
                    .filter(|r| r.killer == k)
                    .map(|r| r.reaction_ms)
                    .collect();
                (v.len(), p50_max(&v))
            };
            let (runs, rule) = of(Killer::Rule);
            for (i, what) in ["p50", "max"].into_iter().enumerate() {
                let pick = |p: Option<(f64, f64)>| p.map(|(a, b)| if i == 0 { a } else { b });
                let peers: Vec<String> = [Killer::PtKill, Killer::KillUserAtCross]
                    .into_iter()
                    .filter_map(|k| {
                        let (n, figure) = of(k);
                        (n > 0).then(|| format!("{} {what} of {n}: {}", k.key(), ms(pick(figure))))
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "| reaction, {} sessions | {what} of {runs} runs ≤ interval + 300 ms = {limit:.0} ms | {} | {} | {} |",
                    self.reaction_n,
                    ms(pick(rule)),
                    peers.join("; "),
                    verdict((runs > 0).then(|| pick(rule).is_some_and(|v| v <= limit)))
                );
            }
        }
        if let Some(t) = &self.tick {
            let mean = t.matching.as_ref().and_then(|h| h.mean());
            let _ = writeln!(
                out,
                "| tick cost, {} sessions, {} rules | matching ≤ 5 ms per tick (mean) | {} | – | {} |",
                t.n,
                t.rules,
                mean.map_or("not exported".to_owned(), |m| format!("{:.2} ms", m * 1e3)),
                verdict(Some(mean.is_some_and(|m| m <= 0.005)))
            );
            let ratio = (t.mysqld_per_show > 0.0).then(|| t.mysqld_per_tick / t.mysqld_per_show);
            let _ = writeln!(
                out,
                "| tick cost, {} sessions | listing's mysqld CPU per tick, against one SHOW FULL PROCESSLIST (reported) | {:.2} ms{} | SHOW FULL PROCESSLIST {:.2} ms | – |",
                t.n,
                t.mysqld_per_tick * 1e3,
                ratio.map_or(String::new(), |r| format!(" = {r:.2} ×")),
                t.mysqld_per_show * 1e3
            );
        }
        if !self.mass.is_empty() {
            let of = |m: mass::Method| {
                let v: Vec<Option<f64>> = self
                    .mass
                    .iter()
                    .filter(|r| r.method == m)
                    .map(|r| r.zero_ms)
                    .collect();
                (v.len(), p50_max(&v).map(|(p50, _)| p50))
            };
            let (runs, rule) = of(mass::Method::Rule);
            let (_, kill_user) = of(mass::Method::KillUser);
            let limit = kill_user.map(|k| 1.15 * k + self.interval_ms);
            let _ = writeln!(
                out,
                "| mass match, {} sessions | p50 of {runs} runs ≤ 1.15 × KILL USER + interval = {} | {} | KILL USER p50 {} | {} |",
                self.mass_n,
                ms(limit),
                ms(rule),
                ms(kill_user),
                verdict(Some(rule.zip(limit).is_some_and(|(r, l)| r <= l)))
            );
        }
        if let Some(i) = &self.idle {
            let _ = writeln!(
                out,
                "| idle cost, {} instances × 1 rule | dbkill CPU ≤ 2 % of one core | {:.2} % | – | {} |",
                i.instances,
                i.dbkill_cores * 100.0,
                verdict(Some(i.dbkill_cores <= 0.02))
            );
        }
    }
}
