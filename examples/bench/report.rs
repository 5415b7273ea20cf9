//! Summaries of the runs: a table per scene and N (and the stalls of `stalled`), the goals of
//! issue #4 (idle) and of issue #11 (`goals.rs`) marked PASS/FAIL, memory, and the same again as
//! Markdown for BENCHMARKS.md.

use std::fmt::Write as _;

use crate::goals;
use crate::listing::ListBench;
use crate::machine::MachineInfo;
use crate::methods::Method;
use crate::run::Run;
use crate::scenes::Scene;

const MIB: f64 = 1024.0;

/// dbkill's memory outside the runs (KiB).
pub struct Memory {
    /// VmRSS after the warm-up ListProcesses, before any victim.
    pub idle_kib: Option<u64>,
    /// VmRSS after everything.
    pub idle_end_kib: Option<u64>,
}

pub struct Summary<'a> {
    pub runs: &'a [Run],
    pub lists: &'a [ListBench],
    pub memory: Memory,
    pub info: &'a MachineInfo,
    pub command: String,
    /// The scenes in the order run, each with its sizes.
    pub plan: &'a [(Scene, Vec<usize>)],
    /// Combinations not run, with the reason.
    pub skipped: &'a [String],
    pub reps: usize,
}

/// A table that renders as aligned text or as Markdown.
pub struct Table {
    head: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(head: &[&str]) -> Table {
        Table {
            head: head.iter().map(|s| (*s).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn text(&self) -> String {
        let widths: Vec<usize> = (0..self.head.len())
            .map(|i| {
                std::iter::once(&self.head)
                    .chain(&self.rows)
                    .map(|r| r[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |r: &[String]| {
            let cells: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            cells.join("  ").trim_end().to_owned() + "\n"
        };
        let mut out = line(&self.head);
        out += &line(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>());
        self.rows.iter().for_each(|r| out += &line(r));
        out
    }

    pub fn markdown(&self) -> String {
        let line = |r: &[String]| format!("| {} |\n", r.join(" | "));
        let mut out = line(&self.head);
        out += &line(&vec!["---".to_owned(); self.head.len()]);
        self.rows.iter().for_each(|r| out += &line(r));
        out
    }
}

pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// Medians of one method at one N in one scene.
pub struct Stats {
    pub runs: usize,
    /// Runs that reached zero.
    reached: usize,
    zero_ms: Vec<f64>,
    returned_ms: Vec<f64>,
    cpu_us: Vec<f64>,
    /// mysqld CPU minus the probe's thread, µs per session.
    net_cpu_us: Vec<f64>,
}

impl Stats {
    pub fn of(runs: &[Run], scene: Scene, n: usize, method: Method) -> Stats {
        let mine: Vec<&Run> = runs
            .iter()
            .filter(|r| r.scene == scene && r.n == n && r.method == method)
            .collect();
        Stats {
            runs: mine.len(),
            reached: mine.iter().filter(|r| r.zero.is_some()).count(),
            zero_ms: mine
                .iter()
                .filter_map(|r| r.zero)
                .map(|d| d.as_secs_f64() * 1e3)
                .collect(),
            returned_ms: mine
                .iter()
                .map(|r| r.returned.as_secs_f64() * 1e3)
                .collect(),
            cpu_us: mine.iter().map(|r| r.cpu_s / n as f64 * 1e6).collect(),
            net_cpu_us: mine
                .iter()
                .map(|r| (r.cpu_s - r.probe_cpu_s) / n as f64 * 1e6)
                .collect(),
        }
    }

    /// Median time-to-zero, only if every run reached zero.
    pub fn zero(&self) -> Option<f64> {
        (self.runs > 0 && self.reached == self.runs)
            .then(|| median(&mut self.zero_ms.clone()))
            .flatten()
    }

    fn cpu(&self) -> Option<f64> {
        median(&mut self.cpu_us.clone())
    }

    fn net_cpu(&self) -> Option<f64> {
        median(&mut self.net_cpu_us.clone())
    }
}

pub fn verdict(ok: Option<bool>) -> String {
    match ok {
        Some(true) => "PASS".to_owned(),
        Some(false) => "FAIL".to_owned(),
        None => "FAIL (no data)".to_owned(),
    }
}

pub fn ms(v: Option<f64>) -> String {
    v.map_or("–".to_owned(), |v| format!("{v:.1} ms"))
}

pub fn ratio(v: Option<f64>) -> String {
    v.map_or("–".to_owned(), |v| format!("{v:.2}×"))
}

fn div(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?).filter(|r| r.is_finite())
}

impl Summary<'_> {
    fn method_table(&self, scene: Scene, n: usize) -> Table {
        let mut t = Table::new(&[
            "method",
            "runs",
            "to zero min / median / max",
            "returned (median)",
            "mysqld CPU/session (excl. probe)",
            "killer CPU",
            "others' load (max)",
            "dbkill report / peak RSS",
        ]);
        for method in Method::ALL {
            let s = Stats::of(self.runs, scene, n, method);
            if s.runs == 0 {
                continue;
            }
            let mut zeros = s.zero_ms.clone();
            zeros.sort_by(f64::total_cmp);
            let zero = match (zeros.first(), median(&mut zeros.clone()), zeros.last()) {
                (Some(lo), Some(mid), Some(hi)) => format!("{lo:.1} / {mid:.1} / {hi:.1} ms"),
                _ => "never".to_owned(),
            };
            let zero = if s.reached < s.runs {
                format!("{zero} ({} of {} reached zero)", s.reached, s.runs)
            } else {
                zero
            };
            let mine: Vec<&Run> = self
                .runs
                .iter()
                .filter(|r| r.scene == scene && r.n == n && r.method == method)
                .collect();
            let notes = if method.is_dbkill() {
                let exact = mine
                    .iter()
                    .filter(|r| r.report.as_ref().is_some_and(|c| c.exact))
                    .count();
                let gone: usize = mine
                    .iter()
                    .filter_map(|r| r.report.as_ref())
                    .map(|c| c.gone)
                    .sum();
                let killed: usize = mine
                    .iter()
                    .filter_map(|r| r.report.as_ref())
                    .map(|c| c.killed)
                    .sum();
                let peak = mine.iter().filter_map(|r| r.peak_rss_kib).max();
                let mut notes = format!(
                    "exact {exact}/{}, gone {gone}/{killed}, peak {}",
                    mine.len(),
                    peak.map_or("–".to_owned(), |k| format!("{:.1} MiB", k as f64 / MIB))
                );
                if scene.general_log() {
                    let clean = mine
                        .iter()
                        .filter(|r| r.late_kills.as_ref().is_some_and(|l| l.ok()))
                        .count();
                    let _ = write!(notes, ", no KILL after answer {clean}/{}", mine.len());
                }
                notes
            } else {
                let failed = mine.iter().filter(|r| r.problem.is_some()).count();
                if failed > 0 {
                    format!("{failed} failed")
                } else {
                    String::new()
                }
            };
            t.rows.push(vec![
                method.key().to_owned(),
                s.runs.to_string(),
                zero,
                ms(median(&mut s.returned_ms.clone())),
                match (s.cpu(), s.net_cpu()) {
                    (Some(c), Some(n)) => format!("{c:.0} µs ({n:.0} µs)"),
                    _ => "–".to_owned(),
                },
                median(
                    &mut mine
                        .iter()
                        .filter_map(|r| r.tool_cpu_s)
                        .map(|c| c * 1e3)
                        .collect::<Vec<_>>(),
                )
                .map_or("–".to_owned(), |c| format!("{c:.0} ms")),
                mine.iter()
                    .map(|r| r.other_cores)
                    .max_by(f64::total_cmp)
                    .map_or("–".to_owned(), |c| format!("{c:.2} cores")),
                notes,
            ]);
        }
        t
    }

    /// Issue #4's goals, on the `idle` runs.
    fn goals_table(&self, sizes: &[usize]) -> Table {
        let mut t = Table::new(&["N", "goal", "measured", "limit", "result"]);
        let mut row = |n: String, goal: String, measured: String, limit: String, result: String| {
            t.rows.push(vec![n, goal, measured, limit, result]);
        };
        let dbkill = [
            Method::DbkillUser,
            Method::DbkillDatabase,
            Method::DbkillIds,
        ];
        for &n in sizes {
            let s = |m| Stats::of(self.runs, Scene::Idle, n, m);
            let (ku, lp, pt) = (
                s(Method::KillUser),
                s(Method::ClientLoop),
                s(Method::PtKill),
            );
            let (ku0, lp0, pt0) = (ku.zero(), lp.zero(), pt.zero());
            let nn = n.to_string();
            let du = s(Method::DbkillUser);
            if du.runs > 0 {
                let limit = ku0.map(|k| 1.10 * k + 5.0);
                row(
                    nn.clone(),
                    "dbkill-user ≤ 1.10 × kill-user + 5 ms".into(),
                    ms(du.zero()),
                    ms(limit),
                    verdict(du.zero().zip(limit).map(|(d, l)| d <= l)),
                );
            }
            for m in [Method::DbkillDatabase, Method::DbkillIds] {
                let d = s(m);
                if d.runs == 0 {
                    continue;
                }
                let r = div(d.zero(), ku0);
                row(
                    nn.clone(),
                    format!("{} ≤ 1.25 × kill-user", m.key()),
                    ratio(r),
                    "1.25×".into(),
                    verdict(r.map(|r| r <= 1.25)),
                );
                let r = div(d.zero(), lp0);
                row(
                    nn.clone(),
                    format!("{} ≤ client-loop", m.key()),
                    ratio(r),
                    "1.00×".into(),
                    verdict(r.map(|r| r <= 1.0)),
                );
            }
            if du.runs > 0 {
                row(
                    nn.clone(),
                    "dbkill-user ÷ client-loop (no goal)".into(),
                    ratio(div(du.zero(), lp0)),
                    "–".into(),
                    "info".into(),
                );
            }
            for m in dbkill {
                let d = s(m);
                if d.runs == 0 {
                    continue;
                }
                let r = div(pt0, d.zero());
                row(
                    nn.clone(),
                    format!("pt-kill ÷ {} ≥ 2.5", m.key()),
                    ratio(r),
                    "2.5×".into(),
                    verdict(r.map(|r| r >= 2.5)),
                );
            }
            for m in dbkill {
                let d = s(m);
                if d.runs == 0 {
                    continue;
                }
                let r = div(d.net_cpu(), ku.net_cpu());
                let total = div(d.cpu(), ku.cpu());
                row(
                    nn.clone(),
                    format!(
                        "mysqld CPU/session {} ≤ 1.2 × kill-user (excl. probe)",
                        m.key()
                    ),
                    format!("{} ({} incl. probe)", ratio(r), ratio(total)),
                    "1.2×".into(),
                    // CPU is counted in 10 ms ticks: a ratio of exactly 1.2 (e.g. 12/10 ticks) passes.
                    verdict(r.map(|r| r <= 1.2 + 1e-9)),
                );
            }
            let reports: Vec<&Run> = self
                .runs
                .iter()
                .filter(|r| r.scene == Scene::Idle && r.n == n && r.method.is_dbkill())
                .collect();
            if !reports.is_empty() {
                let exact = reports
                    .iter()
                    .filter(|r| r.report.as_ref().is_some_and(|c| c.exact))
                    .count();
                row(
                    nn.clone(),
                    "API response is the full, exact report".into(),
                    format!("{exact}/{} exact", reports.len()),
                    "all".into(),
                    verdict(Some(exact == reports.len())),
                );
            }
            if let Some(l) = self.lists.iter().find(|l| l.n == n) {
                let secs = |v: &[std::time::Duration]| {
                    median(&mut v.iter().map(|d| d.as_secs_f64() * 1e3).collect::<Vec<_>>())
                };
                let (api, raw) = (secs(&l.api), secs(&l.raw));
                let r = div(api, raw);
                let measured = format!("{} ÷ {} = {}", ms(api), ms(raw), ratio(r));
                let ok = r.map(|r| r <= 1.5 && l.problem.is_none());
                row(
                    nn.clone(),
                    "ListProcesses (count + page) ≤ 1.5 × raw query".into(),
                    measured,
                    "1.5×".into(),
                    verdict(ok),
                );
                let show = secs(&l.show);
                row(
                    nn.clone(),
                    "ListProcesses ÷ SHOW FULL PROCESSLIST, what dbkill sends (no goal)".into(),
                    format!("{} ÷ {} = {}", ms(api), ms(show), ratio(div(api, show))),
                    "–".into(),
                    "info".into(),
                );
            }
        }
        let idle = self.memory.idle_kib.map(|k| k as f64 / MIB);
        row(
            "–".into(),
            "dbkill RSS idle ≤ 30 MiB".into(),
            mib(idle),
            "30 MiB".into(),
            verdict(idle.map(|m| m <= 30.0)),
        );
        let big = sizes.iter().copied().max().unwrap_or(0);
        let peak = self
            .runs
            .iter()
            .filter(|r| r.scene == Scene::Idle && r.n == big && r.method.is_dbkill())
            .filter_map(|r| r.peak_rss_kib)
            .max()
            .map(|k| k as f64 / MIB);
        let (goal, result) = if big == 10_000 {
            (
                "dbkill peak RSS killing 10,000 ≤ 100 MiB".to_owned(),
                verdict(peak.map(|m| m <= 100.0)),
            )
        } else {
            (
                format!("dbkill peak RSS killing {big} (goal is for 10,000)"),
                "info".to_owned(),
            )
        };
        row(big.to_string(), goal, mib(peak), "100 MiB".into(), result);
        t
    }

    fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .runs
            .iter()
            .filter_map(|r| {
                Some(format!(
                    "{} N={} {}: {}",
                    r.scene.key(),
                    r.n,
                    r.method.key(),
                    r.problem.as_ref()?
                ))
            })
            .collect();
        out.extend(
            self.lists
                .iter()
                .filter_map(|l| Some(format!("N={} ListProcesses: {}", l.n, l.problem.as_ref()?))),
        );
        out
    }

    /// `stalled`: one row per run, when the server stopped and resumed and what followed.
    fn stall_table(&self) -> Table {
        let mut t = Table::new(&[
            "N",
            "method",
            "stopped (victims left)",
            "resumed",
            "returned",
            "zero (after resume)",
            "answer exact",
            "KILLs after the answer",
            "history = died",
        ]);
        let at = |d: std::time::Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
        for r in self.runs.iter().filter(|r| r.scene == Scene::Stalled) {
            let Some(s) = &r.stall else { continue };
            t.rows.push(vec![
                r.n.to_string(),
                r.method.key().to_owned(),
                format!("{} ({})", at(s.stopped), s.left_at_stop),
                at(s.resumed),
                at(r.returned),
                match (r.zero, r.zero_after_resume()) {
                    (Some(z), _) if r.escaped_stall() => format!("{} (before the stop)", at(z)),
                    (Some(z), Some(a)) => format!("{} ({})", at(z), at(a)),
                    _ => "never".to_owned(),
                },
                r.report.as_ref().map_or("–".to_owned(), |c| {
                    if c.exact { "yes" } else { "no" }.to_owned()
                }),
                r.late_kills.as_ref().map_or("–".to_owned(), |l| {
                    format!(
                        "{}/{} late, {} running",
                        l.late, l.logged, l.running_at_answer
                    )
                }),
                r.history.as_ref().map_or("–".to_owned(), |h| {
                    h.matched_after.map_or("no".to_owned(), |d| {
                        format!("{:.2} s after resume", d.as_secs_f64())
                    })
                }),
            ]);
        }
        t
    }

    /// Every table in order with its heading: per scene and N, the stalls, then the goals.
    fn sections(&self) -> Vec<(String, Table)> {
        let mut out = Vec::new();
        let ran = |scene: Scene, n: Option<usize>| {
            self.runs
                .iter()
                .any(|r| r.scene == scene && n.is_none_or(|n| r.n == n))
        };
        for (scene, sizes) in self.plan {
            for &n in sizes.iter().filter(|&&n| ran(*scene, Some(n))) {
                let heading = format!(
                    "{}, N = {n} ({} reps; {}; times from t0, medians unless noted)",
                    scene.key(),
                    self.reps,
                    scene.describe()
                );
                out.push((heading, self.method_table(*scene, n)));
            }
            if *scene == Scene::Stalled && ran(*scene, None) {
                let heading = "stalled, every run: mariadbd stopped (SIGSTOP) at the first victim \
                    gone, continued 3 s later; times from t0";
                out.push((heading.to_owned(), self.stall_table()));
            }
        }
        if let Some((_, sizes)) = self.plan.iter().find(|(s, _)| *s == Scene::Idle)
            && ran(Scene::Idle, None)
        {
            let heading = "Goals (issue #4, idle), medians".to_owned();
            out.push((heading, self.goals_table(sizes)));
        }
        let heading = "Goals (issue #11), medians".to_owned();
        out.push((heading, goals::table(self.runs, self.plan)));
        out
    }

    /// The tables as aligned text, for the terminal.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (heading, table) in self.sections() {
            let _ = writeln!(out, "\n{heading}:");
            out += &table.text();
        }
        for s in self.skipped {
            let _ = writeln!(out, "\nskipped: {s}");
        }
        let _ = writeln!(
            out,
            "\ndbkill RSS idle at the end: {}",
            mib(self.memory.idle_end_kib.map(|k| k as f64 / MIB))
        );
        for p in self.problems() {
            let _ = writeln!(out, "problem: {p}");
        }
        out
    }

    /// Everything as Markdown, for BENCHMARKS.md.
    pub fn markdown(&self) -> String {
        let i = self.info;
        let mut out = String::new();
        let _ = writeln!(out, "### Run of {}\n", i.date);
        let _ = writeln!(out, "Command: `{}`\n", self.command);
        let mut m = Table::new(&["item", "value"]);
        for (k, v) in [
            ("date (UTC)", i.date.clone()),
            ("CPUs (nproc)", format!("{} × {}", i.nproc, i.cpu)),
            ("memory", i.memory.clone()),
            ("kernel", i.kernel.clone()),
            ("MariaDB", i.mariadb.clone()),
            ("pt-kill", i.pt_kill.clone()),
            ("dbkill tree (git describe)", i.dbkill_tree.clone()),
            ("dbkill binary", i.dbkill_binary.clone()),
            ("load average at start", i.load.clone()),
            ("descriptor limit (soft)", i.nofile.to_string()),
        ] {
            m.rows.push(vec![k.to_owned(), v]);
        }
        out += &m.markdown();
        for (heading, table) in self.sections() {
            let _ = writeln!(out, "\n#### {heading}\n");
            out += &table.markdown();
        }
        if !self.skipped.is_empty() {
            out += "\nSkipped:\n\n";
            for s in self.skipped {
                let _ = writeln!(out, "- {s}");
            }
        }
        let _ = writeln!(
            out,
            "\ndbkill RSS idle after all runs: {}.",
            mib(self.memory.idle_end_kib.map(|k| k as f64 / MIB))
        );
        let problems = self.problems();
        if !problems.is_empty() {
            out += "\nProblems:\n\n";
            for p in problems {
                let _ = writeln!(out, "- {p}");
            }
        }
        out
    }
}

fn mib(v: Option<f64>) -> String {
    v.map_or("–".to_owned(), |v| format!("{v:.1} MiB"))
}
