//! A trace's number (`traces.id`) from its id, without a B-tree insert at a random key per trace.
//!
//! Trace ids are random, so an index keyed by them takes each new trace in a random leaf. Once
//! the index outgrows what a commit touches anyway, every new trace costs a 4 KiB page in the
//! WAL and again at checkpoint: on a store of 20M spans that made ingest write 2.5 KB per span
//! instead of 1.4 KB and cut it from 108K to 79K spans/s (README, "Benchmarks").
//!
//! A trace is numbered by whichever of its spans and log records the writer gets first (log
//! records are found by their trace's number too, `logs_trace`).
//!
//! So it goes as in an LSM tree. The traces numbered since the last merge are looked up in
//! memory ([`TraceKeys`], shared by the writer and the readers); their `traces` rows, which
//! append, are what makes them durable. Once there are `merge_at` of them, the writer merges
//! their keys into `trace_keys` in key order, a slice after each write ([`Merger::step`]), so
//! a merge dirties each leaf about once instead of once per trace. `store_state` says up to
//! which number `trace_keys` is complete; at open, the traces past it are read back into memory.
//!
//! A trace is in memory from its commit (before the write is acknowledged) until its key's
//! merge has committed, so a read that misses memory and then asks `trace_keys` finds every
//! trace acknowledged before it began. Only this process's readers see the memory: the
//! database file is served by the process that writes it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rusqlite::{params, Connection, OptionalExtension};

/// Traces numbered since the last merge that the writer holds in memory before merging their
/// keys (about 25 bytes each): at 10K traces a second, a merge every 13 s.
pub const DEFAULT_MERGE_AT: usize = 131_072;

/// Keys merged per transaction: one slice after each write, so no write waits for a whole merge.
const SLICE: usize = 8_192;

/// The name of the row of `store_state` that says up to which trace number `trace_keys` is
/// complete.
const THROUGH: &str = "trace_keys_through";

/// The traces whose keys are not in `trace_keys` yet, by id. Shared by the writer and readers.
#[derive(Default)]
pub(crate) struct TraceKeys {
    recent: RwLock<HashMap<[u8; 16], i64>>,
}

impl TraceKeys {
    /// The number of the trace `trace_id`, if it is stored (committed).
    pub fn number(&self, connection: &Connection, trace_id: &[u8; 16]) -> rusqlite::Result<Option<i64>> {
        if let Some(number) = self.recent(trace_id) {
            return Ok(Some(number));
        }
        connection
            .prepare_cached("SELECT id FROM trace_keys WHERE trace_id = ?1")?
            .query_row([trace_id.as_slice()], |row| row.get(0))
            .optional()
    }

    fn recent(&self, trace_id: &[u8; 16]) -> Option<i64> {
        self.recent.read().expect("trace keys lock").get(trace_id).copied()
    }

    /// Traces waiting for their keys' merge.
    pub fn waiting(&self) -> usize {
        self.recent.read().expect("trace keys lock").len()
    }
}

/// The writer's side: adds committed traces, merges their keys once there are enough.
pub(crate) struct Merger {
    keys: Arc<TraceKeys>,
    /// `trace_keys` holds every trace numbered up to this.
    through: i64,
    merge_at: usize,
    merging: Option<Generation>,
}

/// The keys of one merge, sorted, and how many are merged so far.
struct Generation {
    keys: Vec<([u8; 16], i64)>,
    merged: usize,
    /// The highest number among them: every trace up to it is in `trace_keys` once they are.
    through: i64,
}

impl Merger {
    /// Reads back the traces numbered past the last merge.
    pub fn open(connection: &Connection, merge_at: usize) -> rusqlite::Result<Merger> {
        let through: i64 = connection
            .query_row("SELECT value FROM store_state WHERE name = ?1", [THROUGH], |row| row.get(0))
            .optional()?
            .unwrap_or(0);
        let mut recent = HashMap::new();
        let mut statement = connection.prepare("SELECT trace_id, id FROM traces WHERE id > ?1")?;
        let mut rows = statement.query([through])?;
        while let Some(row) = rows.next()? {
            let trace_id: [u8; 16] = row.get(0)?;
            recent.insert(trace_id, row.get(1)?);
        }
        Ok(Merger {
            keys: Arc::new(TraceKeys { recent: RwLock::new(recent) }),
            through,
            merge_at: merge_at.max(1),
            merging: None,
        })
    }

    pub fn keys(&self) -> &Arc<TraceKeys> {
        &self.keys
    }

    /// Makes traces a transaction committed visible to lookups.
    pub fn add(&self, traces: &[([u8; 16], i64)]) {
        if !traces.is_empty() {
            self.keys.recent.write().expect("trace keys lock").extend(traces.iter().copied());
        }
    }

    /// Forgets traces retention dropped: in memory, and in the part of a merge not done yet.
    pub fn forget(&mut self, dropped: &std::collections::HashSet<[u8; 16]>) {
        if dropped.is_empty() {
            return;
        }
        self.keys.recent.write().expect("trace keys lock").retain(|key, _| !dropped.contains(key));
        if let Some(generation) = &mut self.merging {
            let merged = generation.merged;
            let mut index = 0;
            generation.keys.retain(|(key, _)| {
                index += 1;
                index <= merged || !dropped.contains(key)
            });
        }
    }

    /// Between transactions: starts a merge once `merge_at` traces wait, and merges a slice of
    /// the current one in a transaction of its own.
    pub fn step(&mut self, connection: &mut Connection) -> rusqlite::Result<()> {
        if self.merging.is_none() {
            let recent = self.keys.recent.read().expect("trace keys lock");
            if recent.len() < self.merge_at {
                return Ok(());
            }
            let mut keys: Vec<([u8; 16], i64)> = recent.iter().map(|(key, number)| (*key, *number)).collect();
            drop(recent);
            keys.sort_unstable();
            let through = keys.iter().map(|(_, number)| *number).max().unwrap_or(self.through);
            self.merging = Some(Generation { keys, merged: 0, through });
        }
        let Some(generation) = &mut self.merging else { return Ok(()) };
        let end = (generation.merged + SLICE).min(generation.keys.len());
        let transaction = connection.transaction()?;
        {
            // OR IGNORE: a merge a crash cut short is merged again from its start.
            let mut insert =
                transaction.prepare_cached("INSERT OR IGNORE INTO trace_keys (trace_id, id) VALUES (?1, ?2)")?;
            for (trace_id, number) in &generation.keys[generation.merged..end] {
                insert.execute(params![trace_id.as_slice(), number])?;
            }
        }
        let done = end == generation.keys.len();
        if done {
            transaction.execute(
                "INSERT INTO store_state (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![THROUGH, generation.through],
            )?;
        }
        transaction.commit()?;
        generation.merged = end;
        if done {
            let through = generation.through;
            self.merging = None;
            self.through = through;
            self.keys.recent.write().expect("trace keys lock").retain(|_, number| *number > through);
        }
        Ok(())
    }
}
