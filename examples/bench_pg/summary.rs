//! The results as Markdown (readable as text, pasted into BENCHMARKS.md): the run's facts, the
//! kill runs and the listings per N, and one table of issue #14's goals with the measured value,
//! the peer's value in the same run, the ratio and whether the goal held.

use std::fmt::Write;
use std::time::Duration;

use crate::kill::{Method, Run};
use crate::listing::{DEFAULT_PAGE, ListBench, MAX_PAGE};
use crate::machine::MachineInfo;

/// dbkill's time to zero at most this × the floor's.
const FLOOR_FACTOR: f64 = 1.15;
/// dbkill at least this many times faster than the psql loop.
const LOOP_SPEEDUP: f64 = 3.0;
/// ListProcesses (default page) at most this × the raw query.
const LIST_FACTOR: f64 = 1.5;
const RSS_LIMIT_MIB: f64 = 100.0;

pub struct Results {
    pub command: String,
    pub sizes: Vec<usize>,
    pub reps: usize,
    pub poll_ms: u64,
    pub postgres: String,
    pub load_end: String,
    /// dbkill's RSS after its warm-up, before any victim (KiB).
    pub idle_rss_kib: Option<u64>,
    pub runs: Vec<Run>,
    pub lists: Vec<ListBench>,
    pub problems: Vec<String>,
}

/// Median, a missing value (never reached zero) counting as infinitely slow; `None` if empty.
fn median(values: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    let mut v: Vec<f64> = values
        .into_iter()
        .map(|v| v.unwrap_or(f64::INFINITY))
        .collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

fn ms_of(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64() * 1e3)
}

fn ms(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() && v < 10.0 => format!("{v:.2} ms"),
        Some(v) if v.is_finite() => format!("{v:.1} ms"),
        Some(_) => "never".to_owned(),
        None => "–".to_owned(),
    }
}

/// `a / b` when both are figures (a run that never reached zero has none).
fn div(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    a.zip(b)
        .filter(|(a, b)| a.is_finite() && b.is_finite() && *b > 0.0)
        .map(|(a, b)| a / b)
}

fn ratio(v: Option<f64>) -> String {
    v.map_or("–".to_owned(), |v| format!("{v:.2}×"))
}

/// `min–max`, or the one value.
fn range(lo: Option<f64>, hi: Option<f64>) -> String {
    if lo == hi {
        ms(lo)
    } else {
        format!("{}–{}", ms(lo), ms(hi))
    }
}

fn verdict(held: Option<bool>) -> &'static str {
    match held {
        Some(true) => "held",
        Some(false) => "MISSED",
        None => "–",
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl Results {
    fn of(&self, n: usize, m: Method) -> Vec<&Run> {
        self.runs
            .iter()
            .filter(|r| r.n == n && r.method == m)
            .collect()
    }

    /// Median time to zero of `m` at `n`, `None` without runs.
    fn zero(&self, n: usize, m: Method) -> Option<f64> {
        median(self.of(n, m).iter().map(|r| ms_of(r.zero)))
    }

    pub fn markdown(&self, info: &MachineInfo) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Command: `{}`  ", self.command);
        let _ = writeln!(
            out,
            "Date: {}; dbkill tree `{}` (binary {}); {}  ",
            info.date, info.dbkill_tree, info.dbkill_binary, self.postgres
        );
        let _ = writeln!(
            out,
            "Machine: {} × {}, {}, {}; load average {} at the start, {} at the end; \
             descriptor limit {}; monitor poll every {} ms; {} reps (medians)\n",
            info.nproc,
            info.cpu,
            info.memory,
            info.kernel,
            info.load,
            self.load_end,
            info.nofile,
            self.poll_ms,
            self.reps
        );
        self.kill_table(&mut out);
        self.list_table(&mut out);
        self.goals_table(&mut out);
        if !self.problems.is_empty() {
            out += "\nProblems:\n";
            for p in &self.problems {
                let _ = writeln!(out, "- {p}");
            }
        }
        out
    }

    fn kill_table(&self, out: &mut String) {
        out.push_str(
            "Kill all sessions of `victim` (N idle backends): time to zero\n\n\
             | N | method | runs | zero median | zero min–max | returned median | vs floor | notes |\n\
             |---|---|---|---|---|---|---|---|\n",
        );
        for &n in &self.sizes {
            let floor = self.zero(n, Method::Floor);
            for m in Method::ALL {
                let runs = self.of(n, m);
                if runs.is_empty() {
                    continue;
                }
                let zeros = runs.iter().map(|r| ms_of(r.zero).unwrap_or(f64::INFINITY));
                let lo = zeros.clone().reduce(f64::min);
                let hi = zeros.reduce(f64::max);
                let zero = self.zero(n, m);
                let returned = median(runs.iter().map(|r| ms_of(r.returned)));
                let mut notes = Vec::new();
                if m == Method::Dbkill {
                    let exact = runs.iter().filter(|r| r.exact == Some(true)).count();
                    notes.push(format!("{exact}/{} answers exact", runs.len()));
                    if let Some(p) = runs
                        .iter()
                        .filter_map(|r| r.peak)
                        .max_by_key(|p| p.sampled_kib)
                    {
                        notes.push(format!(
                            "peak RSS {:.1} MiB ({} samples; VmHWM {})",
                            mib(p.sampled_kib),
                            p.samples,
                            p.hwm_kib
                                .map_or("–".to_owned(), |k| format!("{:.1} MiB", mib(k)))
                        ));
                    }
                }
                let polls = median(runs.iter().map(|r| Some(r.polls as f64))).unwrap_or(0.0);
                notes.push(format!("{polls:.0} polls"));
                let settled = runs.iter().map(|r| r.settled).max().unwrap_or_default();
                if settled > Duration::from_secs(1) {
                    notes.push(format!("settled up to {:.1} s", settled.as_secs_f64()));
                }
                let _ = writeln!(
                    out,
                    "| {n} | {} | {} | {} | {} | {} | {} | {} |",
                    m.key(),
                    runs.len(),
                    ms(zero),
                    range(lo, hi),
                    ms(returned),
                    ratio(div(zero, floor)),
                    notes.join("; ")
                );
            }
        }
        out.push('\n');
    }

    fn list_table(&self, out: &mut String) {
        if self.lists.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "ListProcesses of N idle `victim` backends (medians of the timed calls)\n\n\
             | N | measure | calls | median | min–max | vs raw |\n|---|---|---|---|---|---|"
        );
        for l in &self.lists {
            let raw = median(l.raw.iter().map(|d| ms_of(Some(*d))));
            let rows = [
                (
                    format!("ListProcesses, default page ({DEFAULT_PAGE} rows + count), 1 request"),
                    &l.default_page,
                ),
                (
                    format!(
                        "ListProcesses, all pages of {MAX_PAGE} ({} requests)",
                        l.pages
                    ),
                    &l.all_pages,
                ),
                (
                    "raw: the driver's `LIST` bound as dbkill binds it (NULL, 'victim', NULL; sqlx, all rows)".to_owned(),
                    &l.raw,
                ),
                (
                    "raw: the driver's `LIST`, every parameter NULL (every backend)".to_owned(),
                    &l.raw_all,
                ),
            ];
            for (name, v) in rows {
                let med = median(v.iter().map(|d| ms_of(Some(*d))));
                let lo = v.iter().min().map(|d| d.as_secs_f64() * 1e3);
                let hi = v.iter().max().map(|d| d.as_secs_f64() * 1e3);
                let _ = writeln!(
                    out,
                    "| {} | {name} | {} | {} | {} | {} |",
                    l.n,
                    v.len(),
                    ms(med),
                    range(lo, hi),
                    ratio(div(med, raw))
                );
            }
        }
        out.push('\n');
    }

    fn goals_table(&self, out: &mut String) {
        out.push_str(
            "Goals of issue #14\n\n\
             | N | goal | dbkill | peer (same run) | ratio | limit | result |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for &n in &self.sizes {
            let dbkill = self.zero(n, Method::Dbkill);
            let mut row = |goal: &str, peer: String, r: Option<f64>, limit: &str, held| {
                let _ = writeln!(
                    out,
                    "| {n} | {goal} | {} | {peer} | {} | {limit} | {} |",
                    ms(dbkill),
                    ratio(r),
                    verdict(held)
                );
            };
            // A dbkill that never reached zero misses both; a peer that never did gives no ratio.
            let held = |r: Option<f64>, ok: &dyn Fn(f64) -> bool| match dbkill {
                Some(d) if d.is_finite() => r.map(ok),
                Some(_) => Some(false),
                None => None,
            };
            if let (Some(_), Some(f)) = (dbkill, self.zero(n, Method::Floor)) {
                let r = div(dbkill, Some(f));
                row(
                    "kill by user: time to zero ≤ 1.15 × floor",
                    format!("floor {}", ms(Some(f))),
                    r,
                    "≤ 1.15×",
                    held(r, &|r| r <= FLOOR_FACTOR),
                );
            }
            if let (Some(_), Some(l)) = (dbkill, self.zero(n, Method::PsqlLoop)) {
                let r = div(Some(l), dbkill);
                row(
                    "kill by user: ≥ 3 × faster than the psql loop",
                    format!("psql-loop {}", ms(Some(l))),
                    r,
                    "≥ 3× (loop ÷ dbkill)",
                    held(r, &|r| r >= LOOP_SPEEDUP),
                );
            }
            if let (Some(_), Some(l)) = (dbkill, self.zero(n, Method::PsqlScript)) {
                let r = div(Some(l), dbkill);
                row(
                    "kill by user: vs the psql script (no goal)",
                    format!("psql-script {}", ms(Some(l))),
                    r,
                    "– (script ÷ dbkill)",
                    None,
                );
            }
            let runs = self.of(n, Method::Dbkill);
            if !runs.is_empty() {
                let exact = runs.iter().filter(|r| r.exact == Some(true)).count();
                let _ = writeln!(
                    out,
                    "| {n} | answers exact (killed = the N victims, nothing failed) | {exact}/{} | – | – | all | {} |",
                    runs.len(),
                    verdict(Some(exact == runs.len()))
                );
                let peak = runs
                    .iter()
                    .filter_map(|r| r.peak)
                    .map(|p| mib(p.sampled_kib.max(p.hwm_kib.unwrap_or(0))));
                if let Some(p) = peak.reduce(f64::max) {
                    let _ = writeln!(
                        out,
                        "| {n} | dbkill peak RSS during the kill (10 ms samples, VmHWM) | {p:.1} MiB | idle {} | – | ≤ {RSS_LIMIT_MIB} MiB | {} |",
                        self.idle_rss_kib
                            .map_or("–".to_owned(), |k| format!("{:.1} MiB", mib(k))),
                        verdict(Some(p <= RSS_LIMIT_MIB))
                    );
                }
            }
            if let Some(l) = self.lists.iter().find(|l| l.n == n) {
                let med = |v: &[Duration]| median(v.iter().map(|d| ms_of(Some(*d))));
                let raw = med(&l.raw);
                for (goal, v, limit) in [
                    (
                        "ListProcesses, one request, default page + count (the goal)",
                        &l.default_page,
                        true,
                    ),
                    ("ListProcesses, all pages (no goal)", &l.all_pages, false),
                ] {
                    let m = med(v);
                    let r = div(m, raw);
                    if !limit {
                        let all = med(&l.raw_all);
                        let _ = writeln!(
                            out,
                            "| {n} | ListProcesses, default page, vs `LIST` with every parameter NULL (no goal) | {} | raw {} | {} | – | info |",
                            ms(med(&l.default_page)),
                            ms(all),
                            ratio(div(med(&l.default_page), all))
                        );
                    }
                    let _ = writeln!(
                        out,
                        "| {n} | {goal} | {} | raw {} | {} | {} | {} |",
                        ms(m),
                        ms(raw),
                        ratio(r),
                        if limit { "≤ 1.5×" } else { "–" },
                        if limit {
                            // No figure because ListProcesses failed is a miss, not a gap.
                            verdict(
                                r.map(|r| r <= LIST_FACTOR)
                                    .or(l.problem.as_ref().map(|_| false)),
                            )
                        } else {
                            "info"
                        }
                    );
                }
            }
        }
    }
}
