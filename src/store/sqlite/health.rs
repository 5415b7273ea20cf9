//! The write probe behind `/healthz`: the `health` row rewritten, and a scratch file of
//! [`ROOM_BYTES`] written, synced and removed beside the database. SQLite may still commit into
//! WAL pages it wrote before, so the row alone can succeed on a full disk; the file shows there
//! is room for the next kill's records.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use super::{SqliteStore, checkpoint_in_background, now_ms};
use crate::store::{StoreError, StoreResult};

/// Room a kill's intent and outcomes take for a few hundred sessions.
pub const ROOM_BYTES: usize = 64 * 1024;
/// A checkpoint every this many probes keeps the WAL from growing with health checks alone.
const PROBES_PER_CHECKPOINT: u32 = 64;

pub(super) struct WriteProbe {
    scratch: PathBuf,
    /// A scratch write that has not returned (a hung disk) is not joined by another.
    writing: Arc<AtomicBool>,
    probes: AtomicU32,
}

/// Incompressible bytes, so a compressing file system has to find room for them too.
fn noise() -> &'static [u8] {
    static NOISE: OnceLock<Vec<u8>> = OnceLock::new();
    NOISE.get_or_init(|| {
        let mut buf = vec![0u8; ROOM_BYTES];
        getrandom::fill(&mut buf).expect("the OS random source is available");
        buf
    })
}

fn write_scratch(path: &PathBuf) -> std::io::Result<()> {
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| {
            f.write_all(noise())?;
            f.sync_data()
        });
    let _ = fs::remove_file(path);
    written
}

impl WriteProbe {
    pub(super) fn new(scratch: PathBuf) -> Self {
        Self {
            scratch,
            writing: Arc::default(),
            probes: AtomicU32::new(0),
        }
    }

    async fn room_to_grow(&self) -> StoreResult<()> {
        if self.writing.swap(true, Ordering::AcqRel) {
            return Err(StoreError::Unwritable(
                "the previous write probe has not returned".into(),
            ));
        }
        let writing = self.writing.clone();
        let path = self.scratch.clone();
        let written = tokio::task::spawn_blocking(move || {
            let result = write_scratch(&path);
            writing.store(false, Ordering::Release);
            result
        })
        .await
        .map_err(|e| StoreError::Unwritable(e.to_string()))?;
        written.map_err(|e| {
            StoreError::Unwritable(format!("cannot write {ROOM_BYTES} bytes beside it: {e}"))
        })
    }
}

impl SqliteStore {
    pub(super) async fn probe(&self) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO health (id, checked_at) VALUES (1, ?1) \
             ON CONFLICT (id) DO UPDATE SET checked_at = ?1",
        )
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        self.probe.room_to_grow().await?;
        if self.probe.probes.fetch_add(1, Ordering::Relaxed) % PROBES_PER_CHECKPOINT
            == PROBES_PER_CHECKPOINT - 1
        {
            checkpoint_in_background(&self.pool);
        }
        Ok(())
    }
}
