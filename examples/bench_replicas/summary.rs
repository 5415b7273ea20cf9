//! The results as Markdown (readable as text, pasted into BENCHMARKS.md): the run's facts, the
//! latency of each request through the two stores with their ratios against issue #15's goal,
//! and the failover runs with their p50 and max.

use std::fmt::Write;
use std::time::Duration;

use crate::failover::{Run, Signal};
use crate::latency::{Latency, quantile};
use crate::machine::MachineInfo;

/// PostgreSQL store at most this × the SQLite store, p50 and p99 alike.
const RATIO_GOAL: f64 = 1.5;
/// Issue #15's test bounds, shown beside the failover figures.
const SIGKILL_BOUND: Duration = Duration::from_secs(20);
const SIGTERM_BOUND: Duration = Duration::from_secs(3);

pub struct Results {
    pub command: String,
    pub postgres: String,
    pub replicas: usize,
    pub victims: usize,
    pub load_end: String,
    pub latency: Vec<Latency>,
    pub failovers: Vec<Run>,
    pub problems: Vec<String>,
}

fn ms(v: f64) -> String {
    if !v.is_finite() {
        "–".to_owned()
    } else if v < 10.0 {
        format!("{v:.2} ms")
    } else {
        format!("{v:.1} ms")
    }
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("never".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()))
}

fn verdict(ratio: f64) -> &'static str {
    if !ratio.is_finite() {
        "–"
    } else if ratio <= RATIO_GOAL {
        "held"
    } else {
        "MISSED"
    }
}

impl Results {
    pub fn markdown(&self, info: &MachineInfo) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Command: `{}`  ", self.command);
        let _ = writeln!(
            out,
            "Date: {}; dbkill tree `{}` (binary {}); {}; {} replicas on one PostgreSQL store \
             (a database of the same cluster as the target) against one dbkill on the SQLite \
             store, default settings  ",
            info.date, info.dbkill_tree, info.dbkill_binary, self.postgres, self.replicas
        );
        let _ = writeln!(
            out,
            "Machine: {} × {}, {}, {}; load average {} at the start, {} at the end\n",
            info.nproc, info.cpu, info.memory, info.kernel, info.load, self.load_end
        );
        self.latency_table(&mut out);
        self.failover_table(&mut out);
        if !self.problems.is_empty() {
            out += "\nProblems:\n";
            for p in &self.problems {
                let _ = writeln!(out, "- {p}");
            }
        }
        out
    }

    fn latency_table(&self, out: &mut String) {
        out.push_str(
            "Request latency through one dbkill (client-side, send → end of body; pairs of \
             calls alternate which store goes first)\n\n\
             | request | calls each | SQLite p50 | SQLite p99 | PostgreSQL p50 | PostgreSQL p99 \
             | ratio p50 | ratio p99 | goal | result |\n\
             |---|---|---|---|---|---|---|---|---|---|\n",
        );
        for l in &self.latency {
            let [sqlite, pg] = &l.ms;
            let (s50, s99) = (quantile(sqlite, 0.5), quantile(sqlite, 0.99));
            let (p50, p99) = (quantile(pg, 0.5), quantile(pg, 0.99));
            let (r50, r99) = (p50 / s50, p99 / s99);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {r50:.2}× | {r99:.2}× | ≤ {RATIO_GOAL}× | {} |",
                l.op.describe(self.victims),
                sqlite.len().min(pg.len()),
                ms(s50),
                ms(s99),
                ms(p50),
                ms(p99),
                verdict(r50.max(r99))
            );
        }
        out.push('\n');
    }

    fn failover_table(&self, out: &mut String) {
        if self.failovers.is_empty() {
            return;
        }
        out.push_str(
            "Failover of a rule: owner signalled → first kill by the new owner. The victim \
             connects just before the signal, so the old owner cannot have killed it (the rule \
             matches sessions of 1 s and more); it becomes killable at `eligible` after the \
             signal, which is the floor of `time`\n\n\
             | signal | run | owner | new owner | eligible | time | problem |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for signal in [Signal::Kill, Signal::Term] {
            let runs: Vec<&Run> = self
                .failovers
                .iter()
                .filter(|r| r.signal == signal)
                .collect();
            for (i, r) in runs.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    signal.name(),
                    i + 1,
                    r.owner,
                    r.new_owner.as_deref().unwrap_or("–"),
                    secs(Some(r.eligible)),
                    secs(r.took),
                    r.problem.as_deref().unwrap_or("")
                );
            }
        }
        out.push_str(
            "\n| signal | runs | p50 | max | issue #15's test bound |\n|---|---|---|---|---|\n",
        );
        for (signal, bound) in [(Signal::Kill, SIGKILL_BOUND), (Signal::Term, SIGTERM_BOUND)] {
            let runs: Vec<&Run> = self
                .failovers
                .iter()
                .filter(|r| r.signal == signal)
                .collect();
            if runs.is_empty() {
                continue;
            }
            // A run whose victim was never killed counts as infinitely slow.
            let ms: Vec<f64> = runs
                .iter()
                .map(|r| r.took.map_or(f64::INFINITY, |d| d.as_secs_f64() * 1e3))
                .collect();
            let p50 = quantile(&ms, 0.5);
            let max = ms.iter().copied().fold(0.0, f64::max);
            let s = |v: f64| {
                if v.is_finite() {
                    format!("{:.2} s", v / 1e3)
                } else {
                    "never".to_owned()
                }
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} s |",
                signal.name(),
                runs.len(),
                s(p50),
                s(max),
                bound.as_secs()
            );
        }
    }
}
