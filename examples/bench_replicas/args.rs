//! The replica benchmark's command line.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

const USAGE: &str = "usage: bench_replicas [--calls 500] [--kills 100] [--victims 20] \
[--failover-runs 5] [--sigterm-runs 5] [--dbkill target/release/dbkill]
--calls: timed token checks and ListProcesses calls per store; --kills: timed one-session kills per store;
--victims: idle sessions ListProcesses lists; --failover-runs / --sigterm-runs: rule owners SIGKILLed / SIGTERMed (0 skips)
(through scripts/bench: scripts/bench --replicas [options])";

pub struct Args {
    pub calls: usize,
    pub kills: usize,
    pub victims: usize,
    pub failover_runs: usize,
    pub sigterm_runs: usize,
    pub dbkill: PathBuf,
}

impl Args {
    pub fn parse() -> Result<Args> {
        let exe = std::env::current_exe()?;
        // target/release/examples/bench_replicas -> target/release/dbkill
        let dbkill = exe
            .parent()
            .and_then(|p| p.parent())
            .map(|p| p.join("dbkill"))
            .context("locate target/release")?;
        let mut a = Args {
            calls: 500,
            kills: 100,
            victims: 20,
            failover_runs: 5,
            sigterm_runs: 5,
            dbkill,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            if flag == "-h" || flag == "--help" {
                println!("{USAGE}");
                std::process::exit(0);
            }
            let value = it
                .next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
            let num = |v: &str| -> Result<usize> {
                v.trim()
                    .parse()
                    .with_context(|| format!("bad {flag} {v:?}\n{USAGE}"))
            };
            match flag.as_str() {
                "--calls" => a.calls = num(&value)?,
                "--kills" => a.kills = num(&value)?,
                "--victims" => a.victims = num(&value)?,
                "--failover-runs" => a.failover_runs = num(&value)?,
                "--sigterm-runs" => a.sigterm_runs = num(&value)?,
                "--dbkill" => a.dbkill = PathBuf::from(value),
                _ => bail!("unknown flag {flag}\n{USAGE}"),
            }
        }
        if a.calls == 0 || a.kills == 0 || a.victims == 0 {
            bail!("--calls, --kills and --victims must be positive\n{USAGE}");
        }
        Ok(a)
    }
}
