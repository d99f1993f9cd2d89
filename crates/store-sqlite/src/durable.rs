//! Durability of commits without holding the writer through `fsync`.
//!
//! With `synchronous = FULL` each `COMMIT` fsyncs the WAL while the single writer connection is
//! held, so the next batch waits for the disk as well as for the CPU. The writer commits with
//! `synchronous = NORMAL` instead (the WAL frames are written to the file, not yet flushed), and
//! the batch's own task then flushes the WAL file (`fdatasync`) through a descriptor of its own.
//! Acknowledging after that flush keeps what `FULL` guaranteed to clients: a commit's frames are
//! on disk before its requests are acknowledged, and SQLite's WAL checksums discard a torn tail
//! after power loss. One thing differs: queries may see a commit a moment before it is durable
//! (with `FULL` the WAL index is updated after the sync), so a power loss can take back spans a
//! query saw but no client was told were stored.
//!
//! Why this holds:
//! - The WAL keeps its inode while the store is open: SQLite deletes it only on a close that
//!   gets an exclusive lock (the writer connection holds a shared one for the store's lifetime),
//!   and `journal_size_limit` truncates it in place. The path is the one SQLite uses, built
//!   from the database file's canonical path (SQLite follows symlinks too).
//! - A checkpoint at any `synchronous` level but `OFF` (the writer's autocheckpoint runs at
//!   `NORMAL`, the checkpointer thread at SQLite's default `FULL`) syncs the WAL before copying
//!   and the database once it has copied the whole WAL, and only then may the WAL restart; so
//!   frames a restart overwrites are already durable in the database. No connection of ours
//!   runs with `synchronous = OFF`.
//! - A failed flush fails closed. The rows are already committed and visible, and on Linux a
//!   failed writeback can leave their pages marked clean: a retry would find every row present
//!   (`INSERT OR IGNORE` writes nothing), and a second flush on the same file would succeed, so
//!   the batch would be acknowledged without ever reaching the disk. Once a flush fails, every
//!   later one fails too, until semtrace restarts: batches go to the spool (fsynced on its own)
//!   or back to clients as retryable, and the spool keeps its records, since replaying them into
//!   this store fails the same way.
//!
//! What tests cannot show: `kill -9` (`crates/server/tests/crash.rs`) loses nothing in the OS
//! page cache either way, so it cannot tell this from `NORMAL` without the flush; power loss is
//! not tested.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use semtrace_store::StoreError;

pub(crate) struct WalSync {
    db_path: PathBuf,
    /// The WAL's path (for errors) and a descriptor of it, opened by the first flush.
    file: Mutex<Option<Arc<(PathBuf, File)>>>,
    /// Set by the first failed flush; see the module doc.
    failed: AtomicBool,
}

impl WalSync {
    /// For the database at `db_path`; its WAL is `<canonical db_path>-wal`.
    pub fn new(db_path: &Path) -> Self {
        WalSync { db_path: db_path.to_path_buf(), file: Mutex::new(None), failed: AtomicBool::new(false) }
    }

    /// Flushes everything committed so far to disk. Concurrent calls each flush; the kernel
    /// serialises them, and a flush covers every commit that returned before it began.
    pub fn sync(&self) -> Result<(), StoreError> {
        if self.failed.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable(format!(
                "an earlier flush of the WAL of {} failed, so spans committed since may not be on disk; \
                 the store takes no more writes until semtrace restarts",
                self.db_path.display()
            )));
        }
        let opened = self.file()?;
        let (path, file) = &*opened;
        file.sync_data().map_err(|err| {
            self.failed.store(true, Ordering::Release);
            tracing::error!(%err, wal = %path.display(), "flushing the WAL failed; the store takes no more writes until restart");
            failed("fdatasync", path, err)
        })
    }

    fn file(&self) -> Result<Arc<(PathBuf, File)>, StoreError> {
        let mut slot = self.file.lock().expect("WAL file lock");
        if let Some(opened) = &*slot {
            return Ok(opened.clone());
        }
        // The first call comes after a commit, so the database and its WAL exist. The WAL's
        // directory entry is made durable once, as SQLite does for a journal it creates.
        let db_path = std::fs::canonicalize(&self.db_path).map_err(|err| failed("resolve", &self.db_path, err))?;
        let mut name = db_path.into_os_string();
        name.push("-wal");
        let path = PathBuf::from(name);
        let file = File::open(&path).map_err(|err| failed("open", &path, err))?;
        if let Some(dir) = path.parent() {
            File::open(dir)
                .and_then(|dir| dir.sync_all())
                .map_err(|err| failed("fsync the directory of", &path, err))?;
        }
        let opened = Arc::new((path, file));
        *slot = Some(opened.clone());
        Ok(opened)
    }
}

#[cfg(test)]
impl WalSync {
    /// Makes later flushes go through the descriptor of `path` instead of the WAL's. On Linux,
    /// `/dev/null` refuses `fdatasync` (EINVAL): a real failed flush, through the real path.
    pub(crate) fn flush_through(&self, path: &Path) {
        let file = File::open(path).expect("open the injected file");
        *self.file.lock().expect("WAL file lock") = Some(Arc::new((path.to_path_buf(), file)));
    }
}

fn failed(action: &str, path: &Path, err: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("cannot {action} {}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncs_a_wal_and_says_which_file_it_could_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("semtrace.db");
        std::fs::write(&db, b"pages").unwrap();
        let missing = WalSync::new(&db);
        let err = missing.sync().unwrap_err().to_string();
        assert!(err.contains("cannot open") && err.contains("semtrace.db-wal"), "{err}");
        assert!(
            matches!(missing.sync(), Err(StoreError::Unavailable(_))),
            "retryable, so the batch is retried or spooled"
        );

        std::fs::write(dir.path().join("semtrace.db-wal"), b"frames").unwrap();
        let wal = WalSync::new(&db);
        wal.sync().unwrap();
        wal.sync().unwrap();
        assert!(wal.file.lock().unwrap().is_some(), "the descriptor is opened once and kept");
    }

    #[cfg(unix)]
    #[test]
    fn follows_a_symlinked_database_to_its_wal() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::write(real.join("semtrace.db"), b"pages").unwrap();
        std::fs::write(real.join("semtrace.db-wal"), b"frames").unwrap();
        let link = dir.path().join("semtrace.db");
        std::os::unix::fs::symlink(real.join("semtrace.db"), &link).unwrap();
        let wal = WalSync::new(&link);
        wal.sync().unwrap();
        let opened = wal.file.lock().unwrap().as_ref().map(|opened| opened.0.clone()).unwrap();
        assert_eq!(opened, std::fs::canonicalize(real.join("semtrace.db-wal")).unwrap());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_flush_fails_every_later_one() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("semtrace.db");
        std::fs::write(&db, b"pages").unwrap();
        std::fs::write(dir.path().join("semtrace.db-wal"), b"frames").unwrap();
        let wal = WalSync::new(&db);
        wal.sync().unwrap();
        // A descriptor whose flush the kernel refuses.
        wal.flush_through(Path::new("/dev/null"));
        let err = wal.sync().unwrap_err().to_string();
        assert!(err.contains("cannot fdatasync /dev/null"), "{err}");
        // The WAL's own descriptor again: the flush would succeed, and must still be refused.
        wal.flush_through(&dir.path().join("semtrace.db-wal"));
        let err = wal.sync().unwrap_err().to_string();
        assert!(err.contains("takes no more writes until semtrace restarts"), "{err}");
        assert!(wal.sync().is_err(), "still refused: a retry must not acknowledge what may not be on disk");
    }
}
