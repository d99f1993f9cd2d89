//! Embedding that yields the CPU to everything else in the process.
//!
//! New templates arrive with new traffic, so the indexer embeds in bursts exactly when ingest is
//! busiest, and candle's matrix products took ~30 % of the server's CPU during a 10 s ingest run
//! (ARCHITECTURE.md, "Ingest: where a span's CPU goes"). Ingest never waits for embedding, so
//! embedding can wait for ingest: [`Background`] runs the model on its own threads at a higher
//! nice value, which the kernel's scheduler serves after the receivers, the batcher and the
//! writer. On an idle machine it runs at full speed; under load, its backlog (health's
//! `embedding_backlog`) grows instead of ingest slowing.

/// A pool of threads that run embedding work at a lower CPU priority than the rest of the
/// process. Only the model's arithmetic runs on it: a thread that holds a lock others wait for
/// (the store's writer) must not be starved, so callers keep their store calls outside
/// [`Background::run`].
pub struct Background {
    pool: rayon::ThreadPool,
    /// The same width at the process's own priority, for work that may not wait any longer.
    urgent: rayon::ThreadPool,
}

impl Background {
    /// A pool as wide as candle's (see [`crate::fix_thread_count`]) whose threads take `nice`
    /// (0 = the process's own priority, 19 = the lowest). Where the priority cannot be lowered
    /// (not Linux, or refused), the threads run at the process's priority and a warning says so.
    pub fn new(nice: i32) -> std::io::Result<Background> {
        let nice = nice.clamp(0, 19);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(candle_core::utils::get_num_threads())
            .thread_name(|index| format!("semtrace-embed-{index}"))
            .start_handler(move |_| lower_priority(nice))
            .build()
            .map_err(std::io::Error::other)?;
        let urgent = rayon::ThreadPoolBuilder::new()
            .num_threads(candle_core::utils::get_num_threads())
            .thread_name(|index| format!("semtrace-embed-urgent-{index}"))
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Background { pool, urgent })
    }

    /// Runs `work` on the low-priority pool; the model's parallel products inside it use the
    /// pool's threads.
    pub fn run<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        self.pool.install(work)
    }

    /// Runs `work` at the process's own priority: for embedding that has waited as long as it
    /// may (a niced thread on cores ingest keeps busy would otherwise wait without end).
    pub fn run_urgent<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        self.urgent.install(work)
    }
}

#[cfg(target_os = "linux")]
fn lower_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    // On Linux the nice value belongs to a thread: this leaves the rest of the process alone.
    let thread = rustix::thread::gettid();
    if rustix::process::getpriority_process(Some(thread)).is_ok_and(|current| current >= nice) {
        return;
    }
    if let Err(err) = rustix::process::setpriority_process(Some(thread), nice) {
        tracing::warn!(%err, nice, "cannot lower the embedding threads' priority; they compete with ingest");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(nice: i32) {
    if nice != 0 {
        tracing::warn!(nice, "thread priorities are set on Linux only; the embedding threads compete with ingest");
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn work_runs_at_the_asked_priority_and_the_caller_keeps_its_own() {
        let caller = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let background = Background::new(caller.max(0) + 5).unwrap();
        let inside = background.run(|| rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap());
        assert_eq!(inside, (caller.max(0) + 5).min(19));
        let after = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        assert_eq!(after, caller);
        let urgent =
            background.run_urgent(|| rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap());
        assert_eq!(urgent, caller, "urgent work keeps the process's priority");
    }
}
