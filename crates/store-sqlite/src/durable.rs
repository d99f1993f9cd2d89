//! Durability of commits without holding the writer through `fsync`.
//!
//! With `synchronous = FULL` each `COMMIT` fsyncs the WAL while the single writer connection is
//! held, so the next batch waits for the disk as well as for the CPU. The writer commits with
//! `synchronous = NORMAL` instead (the WAL frames are written to the file, not yet flushed), and
//! the batch's own task then flushes the WAL file through a descriptor of its own. Acknowledging
//! after that flush gives the guarantee `FULL` gave: a commit's frames are on disk before its
//! requests are acknowledged, and SQLite's WAL checksums discard a torn tail after power loss.
//!
//! This holds because the WAL keeps its inode for the store's lifetime: SQLite deletes it only
//! when the last connection closes (the writer stays open) and `journal_size_limit` truncates it
//! in place. Checkpoints with `synchronous = NORMAL` fsync both the WAL and the database before
//! the WAL restarts, so frames overwritten by a restart are already durable in the database.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use semtrace_store::StoreError;

pub(crate) struct WalSync {
    path: PathBuf,
    file: Mutex<Option<Arc<File>>>,
}

impl WalSync {
    /// For the database at `db_path`; its WAL is `<db_path>-wal`.
    pub fn new(db_path: &Path) -> Self {
        let mut path = db_path.as_os_str().to_owned();
        path.push("-wal");
        WalSync { path: PathBuf::from(path), file: Mutex::new(None) }
    }

    /// Flushes everything committed so far to disk. Concurrent calls each flush; the kernel
    /// serialises them, and a flush covers every commit that returned before it began.
    pub fn sync(&self) -> Result<(), StoreError> {
        let file = self.file()?;
        file.sync_data().map_err(|err| self.failed("fsync", err))
    }

    fn file(&self) -> Result<Arc<File>, StoreError> {
        let mut slot = self.file.lock().expect("WAL file lock");
        if let Some(file) = &*slot {
            return Ok(file.clone());
        }
        // The first call comes after a commit, so the WAL exists. Its directory entry is made
        // durable once, as SQLite does for a journal it creates.
        let file = Arc::new(File::open(&self.path).map_err(|err| self.failed("open", err))?);
        if let Some(dir) = self.path.parent() {
            let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
            File::open(dir).and_then(|dir| dir.sync_all()).map_err(|err| self.failed("fsync the directory of", err))?;
        }
        *slot = Some(file.clone());
        Ok(file)
    }

    fn failed(&self, action: &str, err: std::io::Error) -> StoreError {
        StoreError::Unavailable(format!("cannot {action} {}: {err}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncs_a_wal_and_says_which_file_it_could_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("semtrace.db");
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
}
