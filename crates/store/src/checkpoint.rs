//! Copying SQLite's write-ahead log back into the database beside the writers, so that the
//! log's two `fsync`s (a quarter of a second for 80 MiB on a virtual disk) do not stall the
//! transaction that happens to fill it.
//!
//! Left to itself, SQLite checkpoints inside the `COMMIT` that takes the log past
//! `wal_autocheckpoint` pages: that writer (and, SQLite having one writer, every writer
//! queued behind it) waits for the log to be synced, copied and the database synced. Here a
//! task of its own, woken after each commit, reads how many log frames are not yet copied
//! (from the log's index header in the `-shm` file, the documented WAL format) and, past a
//! threshold, runs a `PASSIVE` checkpoint on a pooled connection: it copies what no reader
//! still needs without taking any lock a writer waits for. The writers' own autocheckpoint
//! stays as it was, as a backstop and as what restarts the log: when it fires it finds
//! nearly everything copied already, and the next write transaction starts the log over.

use sqlx::{AnyPool, Executor};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Frames waiting to be copied past which a checkpoint runs: 16 MiB with the 16 KiB pages of
/// a database Guichet created (4 MiB for an older one with 4 KiB pages). Small enough that
/// each checkpoint's syncs are short, large enough that a busy API server (a few pages per
/// commit) checkpoints seldom.
const BACKLOG_FRAMES: u32 = 1024;

/// Wakes the checkpointing task; cheap to clone, held by the database handle and each SQLite
/// write transaction. The task ends when the last of them is dropped.
#[derive(Clone)]
pub(crate) struct Checkpointer {
    wake: mpsc::Sender<()>,
    shm: Arc<PathBuf>,
}

impl Checkpointer {
    /// Start the task for the database file `db` (nothing for an in-memory database).
    pub(crate) fn start(pool: AnyPool, db: &str) -> Option<Self> {
        if db.is_empty() {
            return None;
        }
        let shm = Arc::new(PathBuf::from(format!("{db}-shm")));
        // One wake-up waiting at most: commits during a checkpoint ask for one more look.
        let (wake, mut woken) = mpsc::channel(1);
        let file = shm.clone();
        tokio::spawn(async move {
            while woken.recv().await.is_some() {
                if pool.is_closed() {
                    break;
                }
                if backlog(&file).is_none_or(|frames| frames < BACKLOG_FRAMES) {
                    continue;
                }
                // A failure (the pool closing, a busy checkpoint lock) leaves the work to the
                // next wake-up or to the writers' own autocheckpoint.
                if let Ok(mut c) = pool.acquire().await
                    && let Err(e) = c.execute("PRAGMA wal_checkpoint(PASSIVE)").await
                {
                    tracing::debug!(error = %e, "background checkpoint");
                }
            }
        });
        Some(Self { wake, shm })
    }

    /// Log frames not yet copied into the database, if the log exists.
    pub(crate) fn backlog(&self) -> Option<u32> {
        backlog(&self.shm)
    }

    /// A transaction committed: the log may have grown.
    pub(crate) fn committed(&self) {
        // Full: a wake-up is waiting already. Closed: the task is gone with the pool.
        let _ = self.wake.try_send(());
    }
}

/// Log frames not yet copied into the database, read from the WAL index header at the start
/// of the `-shm` file (native byte order): `mxFrame` at byte 16 of the header, `nBackfill` at
/// byte 96 (the checkpoint information after the header's two 48-byte copies). Read without
/// SQLite's locks, so possibly a moment stale, which is all a threshold needs.
fn backlog(shm: &std::path::Path) -> Option<u32> {
    let mut head = [0u8; 100];
    kept_open(shm)?.read_exact_at(&mut head, 0).ok()?;
    let word = |at: usize| u32::from_ne_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    Some(word(16).saturating_sub(word(96)))
}

/// The `-shm` file at `path`, opened once for the life of the process and never closed.
/// Closing any descriptor of a file releases every POSIX lock the process holds on it,
/// SQLite's included: a closed read of the `-shm` file dropped the lock by which SQLite's
/// connections say they are using it, so another process opening the database took itself
/// for the first user, rebuilt the file, and this process's connections, which map it, died
/// of SIGBUS. One descriptor per database file is kept (and shared by every handle on it).
/// When the last connection to a database closes, SQLite deletes the file, and the next one
/// makes a new one: a kept descriptor whose file is no longer at `path` (compared by device
/// and inode, through `stat`, which opens nothing) is replaced, and left open too.
fn kept_open(path: &std::path::Path) -> Option<&'static std::fs::File> {
    use std::collections::HashMap;
    use std::os::unix::fs::MetadataExt;
    use std::sync::{Mutex, OnceLock};
    static OPEN: OnceLock<Mutex<HashMap<PathBuf, &'static std::fs::File>>> = OnceLock::new();
    let mut open = OPEN.get_or_init(Default::default).lock().ok()?;
    let at = std::fs::metadata(path).ok()?;
    if let Some(file) = open.get(path)
        && let Ok(kept) = file.metadata()
        && (kept.dev(), kept.ino()) == (at.dev(), at.ino())
    {
        return Some(file);
    }
    // Not there yet (no connection has opened the log): tried again on the next look.
    let file: &'static std::fs::File = Box::leak(Box::new(std::fs::File::open(path).ok()?));
    open.insert(path.to_owned(), file);
    Some(file)
}

#[cfg(test)]
mod tests {
    use super::backlog;

    #[test]
    fn reads_the_frames_not_yet_copied() {
        let dir = std::env::temp_dir().join(format!("guichet-shm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let shm = dir.join("t.db-shm");
        let mut head = vec![0u8; 136];
        head[16..20].copy_from_slice(&5000u32.to_ne_bytes());
        head[96..100].copy_from_slice(&1200u32.to_ne_bytes());
        std::fs::write(&shm, &head).unwrap();
        assert_eq!(backlog(&shm), Some(3800));
        head[96..100].copy_from_slice(&5000u32.to_ne_bytes());
        std::fs::write(&shm, &head).unwrap();
        assert_eq!(backlog(&shm), Some(0));
        // Deleted and made again (SQLite's last connection closed, a new one opened): the new
        // file is read, not the one kept open.
        std::fs::remove_file(&shm).unwrap();
        head[16..20].copy_from_slice(&7000u32.to_ne_bytes());
        std::fs::write(&shm, &head).unwrap();
        assert_eq!(backlog(&shm), Some(2000));
        assert_eq!(backlog(&dir.join("missing-shm")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
