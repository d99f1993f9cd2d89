//! WAL checkpoints on their own thread, so the writer does not stall while WAL pages are copied
//! into the database file. The writer keeps a high `wal_autocheckpoint` as a backstop in case
//! this thread falls behind.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

/// How often the checkpointer runs.
const INTERVAL: Duration = Duration::from_millis(500);

/// Stops the checkpointer thread when dropped (the channel disconnects).
pub(crate) struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    pub fn start(path: &Path) -> std::io::Result<Checkpointer> {
        let (stop, stopped) = mpsc::channel::<()>();
        let path = path.to_path_buf();
        std::thread::Builder::new().name("semtrace-checkpoint".into()).spawn(move || {
            let connection = match Connection::open(&path) {
                Ok(connection) => connection,
                Err(err) => {
                    tracing::error!(%err, "the WAL checkpointer cannot open the database; the writer checkpoints alone");
                    return;
                }
            };
            let _ = connection.busy_timeout(Duration::from_secs(1));
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                // PASSIVE: copies what it can without blocking the writer or readers.
                if let Err(err) = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::debug!(%err, "WAL checkpoint skipped");
                }
            }
        })?;
        Ok(Checkpointer { _stop: stop })
    }
}
