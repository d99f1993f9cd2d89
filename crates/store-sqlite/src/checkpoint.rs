//! WAL checkpoints on their own thread, so the writer does not stall while WAL pages are copied
//! into the database file. Under continuous writes a passive checkpoint never catches up with
//! the last commit, so the log cannot restart from its beginning: the writer's own
//! `wal_autocheckpoint` (16 MiB) restarts it, copying only what this thread has not. Once
//! writes stop, this thread truncates the log to nothing, so an idle store's files are its
//! data (a 600K-span run left a 270 MiB log beside 250 MiB of data before).

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

/// How often the checkpointer runs: often enough that under full ingest (~100 MB of WAL a
/// second) it, not the writer, copies most of the log before the writer's 16 MiB restart.
const INTERVAL: Duration = Duration::from_millis(100);
/// Rounds with nothing written before the log is truncated.
const IDLE_ROUNDS: u32 = 10;

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
            // Frames in the log when all were last seen copied, and for how many rounds since.
            let mut settled: Option<(i64, u32)> = None;
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                // PASSIVE: copies what it can without blocking the writer or readers.
                let frames = connection
                    .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?)));
                match frames {
                    Ok((logged, copied)) if logged > 0 && logged == copied => {
                        // Nothing written for IDLE_ROUNDS intervals and everything copied: the
                        // writer is idle, and truncating costs it nothing.
                        settled = match settled {
                            Some((frames, rounds)) if frames == logged && rounds + 1 >= IDLE_ROUNDS => {
                                if let Err(err) =
                                    connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                                {
                                    tracing::debug!(%err, "WAL truncation skipped");
                                }
                                None
                            }
                            Some((frames, rounds)) if frames == logged => Some((frames, rounds + 1)),
                            _ => Some((logged, 1)),
                        };
                    }
                    Ok(_) => settled = None,
                    Err(err) => {
                        settled = None;
                        tracing::debug!(%err, "WAL checkpoint skipped");
                    }
                }
            }
        })?;
        Ok(Checkpointer { _stop: stop })
    }
}
