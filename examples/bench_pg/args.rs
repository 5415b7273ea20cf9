//! The PostgreSQL benchmark's command line.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::kill::Method;

const USAGE: &str = "usage: bench_pg [--sizes 1000,2000] [--reps 3] \
[--methods floor,psql-loop,psql-script,dbkill] [--loop-reps R] [--list-calls 20] [--poll-ms 1] [--dbkill target/release/dbkill]
--loop-reps caps the psql loop's reps (default: --reps); --list-calls 0 skips ListProcesses; with that and without dbkill in --methods, dbkill is not started
(through scripts/bench: scripts/bench --pg [options])";

pub struct Args {
    pub sizes: Vec<usize>,
    pub reps: usize,
    /// Reps of the psql loop (≤ `reps`): one psql per pid is slow at thousands.
    pub loop_reps: usize,
    pub methods: Vec<Method>,
    /// Timed calls of each listing at each size.
    pub list_calls: usize,
    pub poll_ms: u64,
    pub dbkill: PathBuf,
}

impl Args {
    pub fn parse() -> Result<Args> {
        let exe = std::env::current_exe()?;
        // target/release/examples/bench_pg -> target/release/dbkill
        let dbkill = exe
            .parent()
            .and_then(|p| p.parent())
            .map(|p| p.join("dbkill"))
            .context("locate target/release")?;
        let mut a = Args {
            sizes: vec![1000, 2000],
            reps: 3,
            loop_reps: usize::MAX,
            methods: Method::ALL.to_vec(),
            list_calls: 20,
            poll_ms: 1,
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
                "--sizes" => a.sizes = value.split(',').map(num).collect::<Result<_>>()?,
                "--reps" => a.reps = num(&value)?,
                "--loop-reps" => a.loop_reps = num(&value)?,
                "--methods" => {
                    a.methods = value
                        .split(',')
                        .map(|s| {
                            Method::parse(s.trim())
                                .with_context(|| format!("unknown method {s:?}\n{USAGE}"))
                        })
                        .collect::<Result<_>>()?;
                }
                "--list-calls" => a.list_calls = num(&value)?,
                "--poll-ms" => a.poll_ms = num(&value)? as u64,
                "--dbkill" => a.dbkill = PathBuf::from(value),
                _ => bail!("unknown flag {flag}\n{USAGE}"),
            }
        }
        if a.sizes.is_empty() || a.sizes.contains(&0) || a.reps == 0 || a.methods.is_empty() {
            bail!("sizes, reps and methods must be non-empty and positive\n{USAGE}");
        }
        a.loop_reps = a.loop_reps.min(a.reps);
        if a.poll_ms == 0 {
            bail!("--poll-ms must be at least 1\n{USAGE}");
        }
        Ok(a)
    }

    pub fn largest(&self) -> usize {
        self.sizes.iter().copied().max().unwrap_or(0)
    }

    /// dbkill is started when it is measured: killing, or listing.
    pub fn needs_dbkill(&self) -> bool {
        self.methods.contains(&Method::Dbkill) || self.list_calls > 0
    }
}
