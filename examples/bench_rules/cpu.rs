//! CPU time of the processes a scene measures (mysqld, dbkill) and of everything else on the
//! machine meanwhile, from `/proc` snapshots taken around a measurement window.

use std::time::Instant;

use anyhow::Result;

use crate::machine;

/// The pids to read, and the unit of `/proc/<pid>/stat` times.
#[derive(Clone, Copy)]
pub struct Pids {
    pub mysqld: u32,
    pub dbkill: u32,
    pub clock_ticks: f64,
}

/// CPU clock ticks used so far.
pub struct Snapshot {
    at: Instant,
    mysqld: u64,
    dbkill: u64,
    /// This benchmark and its reaped children (pt-kill).
    own: u64,
    machine: u64,
}

/// What a window between two snapshots cost, in CPU seconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Window {
    pub secs: f64,
    pub mysqld: f64,
    pub dbkill: f64,
    /// CPU seconds of every other process on the machine (noise), per second of the window.
    pub other_cores: f64,
}

impl Pids {
    pub fn snapshot(&self) -> Result<Snapshot> {
        let (own, children) = machine::own_ticks()?;
        Ok(Snapshot {
            at: Instant::now(),
            mysqld: machine::cpu_ticks(self.mysqld)?,
            dbkill: machine::cpu_ticks(self.dbkill)?,
            own: own + children,
            machine: machine::machine_busy_ticks()?,
        })
    }

    /// The window from `before` until now.
    pub fn since(&self, before: &Snapshot) -> Result<Window> {
        let after = self.snapshot()?;
        let ticks = |a: u64, b: u64| a.saturating_sub(b) as f64 / self.clock_ticks;
        let secs = after.at.duration_since(before.at).as_secs_f64().max(1e-3);
        let ours = |s: &Snapshot| s.mysqld + s.dbkill + s.own;
        let others = after
            .machine
            .saturating_sub(before.machine)
            .saturating_sub(ours(&after).saturating_sub(ours(before)));
        Ok(Window {
            secs,
            mysqld: ticks(after.mysqld, before.mysqld),
            dbkill: ticks(after.dbkill, before.dbkill),
            other_cores: others as f64 / self.clock_ticks / secs,
        })
    }
}
