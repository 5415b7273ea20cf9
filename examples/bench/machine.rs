//! The machine and its processes, read without `unsafe` or libc: `/proc` for CPU time and
//! memory, `prlimit` to raise our descriptor limit, and the facts BENCHMARKS.md records.

use std::fs;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Raises this process's soft `RLIMIT_NOFILE` to the hard limit (children such as `mariadbd`
/// inherit it) and returns the soft limit in force afterwards.
pub fn raise_nofile_limit() -> Result<u64> {
    let (soft, hard) = nofile_limits()?;
    if soft < hard {
        let hard_arg = if hard == u64::MAX {
            "unlimited".to_owned()
        } else {
            hard.to_string()
        };
        // prlimit(1) can change another process's limits, so no setrlimit (and no unsafe) here.
        let status = Command::new("prlimit")
            .arg(format!("--pid={}", std::process::id()))
            .arg(format!("--nofile={hard_arg}:{hard_arg}"))
            .status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!(
                "bench: could not raise the descriptor limit with prlimit (soft {soft}, hard {hard})"
            );
        }
    }
    Ok(nofile_limits()?.0)
}

fn nofile_limits() -> Result<(u64, u64)> {
    let limits = fs::read_to_string("/proc/self/limits").context("read /proc/self/limits")?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .context("no 'Max open files' in /proc/self/limits")?;
    let mut fields = line["Max open files".len()..].split_whitespace();
    let mut next = || -> Result<u64> {
        match fields.next() {
            Some("unlimited") => Ok(u64::MAX),
            Some(v) => v.parse().context("parse descriptor limit"),
            None => bail!("short 'Max open files' line: {line}"),
        }
    };
    Ok((next()?, next()?))
}

/// Clock ticks per second, the unit of `/proc/<pid>/stat` CPU times.
pub fn clock_ticks() -> f64 {
    command_output("getconf", &["CLK_TCK"])
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// User plus system CPU time of `pid`, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Result<u64> {
    let f = stat_fields(&pid.to_string())?;
    Ok(f[0] + f[1])
}

/// User plus system CPU time of thread `tid` of process `pid`, in clock ticks.
pub fn thread_cpu_ticks(pid: u32, tid: u32) -> Result<u64> {
    let f = stat_fields(&format!("{pid}/task/{tid}"))?;
    Ok(f[0] + f[1])
}

/// This process's CPU time and that of its reaped children (`utime`, `stime`, `cutime`,
/// `cstime`), in clock ticks: (own, children).
pub fn own_ticks() -> Result<(u64, u64)> {
    let f = stat_fields("self")?;
    Ok((f[0] + f[1], f[2] + f[3]))
}

/// Fields 14–17 of proc(5) `/proc/<pid>/stat`: utime, stime, cutime, cstime.
fn stat_fields(pid: &str) -> Result<[u64; 4]> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("read /proc/{pid}/stat"))?;
    // The command name may contain spaces; the fields after its closing parenthesis do not.
    let rest = &stat[stat.rfind(')').context("malformed stat")? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3, so field 14 is index 11.
    let mut out = [0; 4];
    for (i, v) in out.iter_mut().enumerate() {
        *v = fields.get(11 + i).context("short stat")?.parse()?;
    }
    Ok(out)
}

/// Busy CPU time of the whole machine (all but idle and iowait), in clock ticks.
pub fn machine_busy_ticks() -> Result<u64> {
    let stat = fs::read_to_string("/proc/stat").context("read /proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    Ok([0, 1, 2, 5, 6, 7].iter().filter_map(|&i| v.get(i)).sum())
}

/// A `kB` line of `/proc/<pid>/status`, e.g. `VmRSS` or `VmHWM`, in KiB.
pub fn status_kib(pid: u32, key: &str) -> Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.strip_prefix(key).is_some_and(|r| r.starts_with(':')))
        .with_context(|| format!("no {key} in /proc/{pid}/status"))?;
    line[key.len() + 1..]
        .split_whitespace()
        .next()
        .context("empty status line")?
        .parse()
        .context("parse status value")
}

/// Resets `pid`'s peak RSS (`VmHWM`) to its current RSS (proc(5), `clear_refs` value 5), so that
/// a later `VmHWM` is the peak since now. False if the kernel refused.
pub fn reset_peak_rss(pid: u32) -> bool {
    fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// What BENCHMARKS.md records about the run's environment.
pub struct MachineInfo {
    pub date: String,
    pub nproc: String,
    pub cpu: String,
    pub memory: String,
    pub kernel: String,
    pub mariadb: String,
    pub pt_kill: String,
    pub dbkill_tree: String,
    /// sha256 (first 16 hex digits) and mtime of the dbkill binary measured.
    pub dbkill_binary: String,
    pub load: String,
    pub nofile: u64,
}

pub fn collect(nofile: u64, dbkill: &std::path::Path) -> MachineInfo {
    let unknown = || "unknown".to_owned();
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: Option<u64> = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok());
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned());
    let mariadbd = ["/usr/sbin/mariadbd", "mariadbd"]
        .into_iter()
        .find_map(|p| command_output(p, &["--version"]));
    MachineInfo {
        date: command_output("date", &["-u"]).unwrap_or_else(unknown),
        nproc: command_output("nproc", &[]).unwrap_or_else(unknown),
        cpu: cpu.unwrap_or_else(unknown),
        memory: mem_kib.map_or_else(unknown, |k| {
            format!("{:.1} GiB", k as f64 / 1024.0 / 1024.0)
        }),
        kernel: command_output("uname", &["-sr"]).unwrap_or_else(unknown),
        mariadb: mariadbd.unwrap_or_else(unknown),
        pt_kill: command_output("pt-kill", &["--version"]).unwrap_or_else(unknown),
        dbkill_tree: command_output("git", &["describe", "--always", "--dirty"])
            .unwrap_or_else(unknown),
        dbkill_binary: binary_id(dbkill).unwrap_or_else(unknown),
        load: fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| unknown()),
        nofile,
    }
}

/// `sha256 <16 hex digits>, built <UTC time>` of a file.
fn binary_id(path: &std::path::Path) -> Option<String> {
    let path = path.to_str()?;
    let hash = command_output("sha256sum", &[path])?;
    let built = command_output("date", &["-u", "-r", path, "+%Y-%m-%d %H:%M:%S UTC"])?;
    Some(format!("sha256 {}, built {built}", hash.get(..16)?))
}

/// Trimmed stdout of a command that succeeded, else `None`.
fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
