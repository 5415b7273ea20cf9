//! dbkill's memory during a kill: `VmRSS` of `/proc/<pid>/status` sampled every 10 ms on a
//! thread of its own (so a busy runtime cannot delay a sample), and the kernel's own peak
//! (`VmHWM`, reset to the current RSS when sampling starts) as a check on the samples.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::machine;

const INTERVAL: Duration = Duration::from_millis(10);

pub struct Sampler {
    pid: u32,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(u64, usize)>,
    hwm_reset: bool,
}

/// What a sampling window saw, in KiB.
#[derive(Clone, Copy, Debug)]
pub struct Peak {
    /// The largest `VmRSS` sampled.
    pub sampled_kib: u64,
    pub samples: usize,
    /// `VmHWM` at the end, when the kernel let us reset it at the start.
    pub hwm_kib: Option<u64>,
}

impl Sampler {
    pub fn start(pid: u32) -> Sampler {
        let hwm_reset = machine::reset_peak_rss(pid);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut peak, mut samples) = (0, 0);
            while !flag.load(Ordering::Relaxed) {
                if let Ok(kib) = machine::status_kib(pid, "VmRSS") {
                    peak = peak.max(kib);
                    samples += 1;
                }
                std::thread::sleep(INTERVAL);
            }
            (peak, samples)
        });
        Sampler {
            pid,
            stop,
            thread,
            hwm_reset,
        }
    }

    pub fn stop(self) -> Peak {
        self.stop.store(true, Ordering::Relaxed);
        let (sampled_kib, samples) = self.thread.join().unwrap_or((0, 0));
        Peak {
            sampled_kib,
            samples,
            hwm_kib: self
                .hwm_reset
                .then(|| machine::status_kib(self.pid, "VmHWM").ok())
                .flatten(),
        }
    }
}
