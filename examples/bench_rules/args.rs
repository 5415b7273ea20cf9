//! The rule benchmark's command line.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::reaction::Killer;

const USAGE: &str = "usage: bench_rules [--scenes reaction,mass,tick,idle] [--reps 5] \
[--reaction-sessions 1000] [--mass-sessions 5000] [--tick-sessions 10000] [--rules 20] \
[--ticks 20] [--instances 20] [--idle-secs 60] [--poll-ms 20] [--dbkill target/release/dbkill]
[--reaction-killers rule,pt-kill] (also kill-user: KILL USER sent when the sleepers cross 2 s)
(through scripts/bench: scripts/bench --rules [options])";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scene {
    Reaction,
    Mass,
    Tick,
    Idle,
}

impl Scene {
    const ALL: [Scene; 4] = [Scene::Reaction, Scene::Mass, Scene::Tick, Scene::Idle];

    pub fn key(self) -> &'static str {
        match self {
            Scene::Reaction => "reaction",
            Scene::Mass => "mass",
            Scene::Tick => "tick",
            Scene::Idle => "idle",
        }
    }
}

pub struct Args {
    pub scenes: Vec<Scene>,
    /// Runs of each killer in `reaction` and `mass`.
    pub reps: usize,
    /// Who kills in `reaction`, in the first rep's order.
    pub reaction_killers: Vec<Killer>,
    pub reaction_sessions: usize,
    pub mass_sessions: usize,
    pub tick_sessions: usize,
    /// Rules in `tick`.
    pub rules: usize,
    /// Ticks (≈ seconds) per measured window in `tick`.
    pub ticks: usize,
    /// Instances (one rule each) in `idle`.
    pub instances: usize,
    pub idle_secs: u64,
    pub poll_ms: u64,
    pub dbkill: PathBuf,
}

impl Args {
    pub fn parse() -> Result<Args> {
        let exe = std::env::current_exe()?;
        // target/release/examples/bench_rules -> target/release/dbkill
        let dbkill = exe
            .parent()
            .and_then(|p| p.parent())
            .map(|p| p.join("dbkill"))
            .context("locate target/release")?;
        let mut a = Args {
            scenes: Scene::ALL.to_vec(),
            reps: 5,
            reaction_killers: vec![Killer::Rule, Killer::PtKill],
            reaction_sessions: 1000,
            mass_sessions: 5000,
            tick_sessions: 10_000,
            rules: 20,
            ticks: 20,
            instances: 20,
            idle_secs: 60,
            poll_ms: 20,
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
            let num = || -> Result<usize> {
                value
                    .parse()
                    .with_context(|| format!("bad {flag} {value:?}\n{USAGE}"))
            };
            match flag.as_str() {
                "--scenes" => {
                    a.scenes = value
                        .split(',')
                        .map(|s| {
                            Scene::ALL
                                .into_iter()
                                .find(|k| k.key() == s.trim())
                                .with_context(|| format!("unknown scene {s:?}\n{USAGE}"))
                        })
                        .collect::<Result<_>>()?;
                }
                "--reps" => a.reps = num()?,
                "--reaction-killers" => {
                    a.reaction_killers = value
                        .split(',')
                        .map(|s| {
                            Killer::parse(s.trim())
                                .with_context(|| format!("unknown killer {s:?}\n{USAGE}"))
                        })
                        .collect::<Result<_>>()?;
                }
                "--reaction-sessions" => a.reaction_sessions = num()?,
                "--mass-sessions" => a.mass_sessions = num()?,
                "--tick-sessions" => a.tick_sessions = num()?,
                "--rules" => a.rules = num()?,
                "--ticks" => a.ticks = num()?,
                "--instances" => a.instances = num()?,
                "--idle-secs" => a.idle_secs = num()? as u64,
                "--poll-ms" => a.poll_ms = num()? as u64,
                "--dbkill" => a.dbkill = PathBuf::from(value),
                _ => bail!("unknown flag {flag}\n{USAGE}"),
            }
        }
        let sizes = [
            a.reps,
            a.reaction_sessions,
            a.mass_sessions,
            a.tick_sessions,
            a.rules,
            a.ticks,
            a.instances,
            a.idle_secs as usize,
            a.poll_ms as usize,
        ];
        if a.scenes.is_empty() || a.reaction_killers.is_empty() || sizes.contains(&0) {
            bail!("scenes must be non-empty and every number positive\n{USAGE}");
        }
        Ok(a)
    }

    /// The most sessions any chosen scene opens at once.
    pub fn largest(&self) -> usize {
        self.scenes
            .iter()
            .map(|s| match s {
                Scene::Reaction => self.reaction_sessions,
                Scene::Mass => self.mass_sessions,
                Scene::Tick => self.tick_sessions,
                Scene::Idle => 0,
            })
            .max()
            .unwrap_or(0)
    }
}
