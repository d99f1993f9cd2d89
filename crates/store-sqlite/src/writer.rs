//! The single writer connection and what it caches between transactions.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};
use semtrace_store::{StoreError, WriteOutcome};

use crate::codec::SpanRow;
use crate::internal;

pub(crate) struct Committed {
    pub outcome: WriteOutcome,
    pub new_traces: u64,
}

/// Per-trace aggregates of the spans one transaction inserted.
struct TraceDelta<'a> {
    start_ns: i64,
    end_ns: i64,
    span_count: i64,
    error_count: i64,
    root: Option<(&'a str, &'a str)>,
}

pub(crate) struct Writer {
    connection: Connection,
    /// Ids of resource and scope bodies already in the database (committed only).
    resource_ids: HashMap<Arc<str>, i64>,
    scope_ids: HashMap<Arc<str>, i64>,
    /// Hashes of (service, operation, kind) and services already in the database (committed only).
    /// A hash, not the strings, so that checking a span costs no allocation; a collision (odds
    /// about n²/2⁶⁴) would only leave one operation out of the operations list.
    operations: HashSet<u64>,
    services: HashSet<String>,
}

impl Writer {
    pub fn new(connection: Connection) -> rusqlite::Result<Self> {
        let services = {
            let mut statement = connection.prepare("SELECT name FROM services")?;
            let names = statement.query_map([], |row| row.get(0))?;
            names.collect::<rusqlite::Result<HashSet<String>>>()?
        };
        let operations = {
            let mut statement = connection.prepare("SELECT service, name, kind FROM operations")?;
            let rows = statement.query_map([], |row| {
                Ok(operation_hash(&row.get::<_, String>(0)?, &row.get::<_, String>(1)?, row.get(2)?))
            })?;
            rows.collect::<rusqlite::Result<HashSet<_>>>()?
        };
        Ok(Writer { connection, resource_ids: HashMap::new(), scope_ids: HashMap::new(), operations, services })
    }

    /// Inserts the rows in one transaction and commits. Caches learn only what was committed.
    pub fn write(&mut self, rows: &[SpanRow]) -> Result<Committed, StoreError> {
        let mut new_resources: HashMap<Arc<str>, i64> = HashMap::new();
        let mut new_scopes: HashMap<Arc<str>, i64> = HashMap::new();
        let mut new_operations: HashMap<u64, (&str, &str, i32)> = HashMap::new();
        let mut new_services: HashSet<String> = HashSet::new();
        let mut traces: HashMap<[u8; 16], TraceDelta<'_>> = HashMap::new();
        let mut outcome = WriteOutcome::default();
        let mut new_traces = 0u64;

        let transaction = self.connection.transaction().map_err(internal)?;
        {
            let mut insert_span = transaction
                .prepare_cached(
                    "INSERT OR IGNORE INTO spans (trace_id, span_id, parent_span_id, service, name, kind, start_ns,
                        end_ns, status_code, status_message, trace_state, flags, attributes, events, links,
                        dropped_attributes, dropped_events, dropped_links, resource_id, scope_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
                )
                .map_err(internal)?;
            for row in rows {
                let resource_id =
                    body_id(&transaction, "resources", &row.resource, &self.resource_ids, &mut new_resources)?;
                let scope_id = body_id(&transaction, "scopes", &row.scope, &self.scope_ids, &mut new_scopes)?;
                let changed = insert_span
                    .execute(params![
                        row.trace_id.as_slice(),
                        row.span_id.as_slice(),
                        row.parent_span_id.as_ref().map(|id| id.as_slice()),
                        row.service,
                        row.name,
                        row.kind,
                        row.start_ns,
                        row.end_ns,
                        row.status_code,
                        row.status_message,
                        row.trace_state,
                        row.flags,
                        row.attributes,
                        row.events,
                        row.links,
                        row.dropped_attributes,
                        row.dropped_events,
                        row.dropped_links,
                        resource_id,
                        scope_id,
                    ])
                    .map_err(internal)?;
                if changed == 0 {
                    outcome.duplicates += 1;
                    continue;
                }
                outcome.inserted += 1;
                let delta = traces.entry(row.trace_id).or_insert(TraceDelta {
                    start_ns: row.start_ns,
                    end_ns: row.end_ns,
                    span_count: 0,
                    error_count: 0,
                    root: None,
                });
                delta.start_ns = delta.start_ns.min(row.start_ns);
                delta.end_ns = delta.end_ns.max(row.end_ns);
                delta.span_count += 1;
                delta.error_count += i64::from(row.status_code == 2);
                if row.parent_span_id.is_none() {
                    delta.root = Some((&row.service, &row.name));
                }
                if !self.services.contains(&row.service) && !new_services.contains(&row.service) {
                    new_services.insert(row.service.clone());
                }
                let operation_key = operation_hash(&row.service, &row.name, row.kind);
                if !self.operations.contains(&operation_key) {
                    new_operations.entry(operation_key).or_insert((&row.service, &row.name, row.kind));
                }
            }

            let mut upsert_trace = transaction
                .prepare_cached(
                    "INSERT INTO traces (trace_id, start_ns, end_ns, span_count, error_count, root_service, root_name)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (trace_id) DO UPDATE SET
                        start_ns = min(start_ns, excluded.start_ns),
                        end_ns = max(end_ns, excluded.end_ns),
                        span_count = span_count + excluded.span_count,
                        error_count = error_count + excluded.error_count,
                        root_service = coalesce(excluded.root_service, root_service),
                        root_name = coalesce(excluded.root_name, root_name)
                     RETURNING span_count",
                )
                .map_err(internal)?;
            for (trace_id, delta) in &traces {
                let (root_service, root_name) = delta.root.unzip();
                let span_count: i64 = upsert_trace
                    .query_row(
                        params![
                            trace_id.as_slice(),
                            delta.start_ns,
                            delta.end_ns,
                            delta.span_count,
                            delta.error_count,
                            root_service,
                            root_name
                        ],
                        |row| row.get(0),
                    )
                    .map_err(internal)?;
                // The trace is new exactly when its count is what this transaction added.
                new_traces += u64::from(span_count == delta.span_count);
            }

            let mut insert_service =
                transaction.prepare_cached("INSERT OR IGNORE INTO services (name) VALUES (?1)").map_err(internal)?;
            for service in &new_services {
                insert_service.execute([service]).map_err(internal)?;
            }
            let mut insert_operation = transaction
                .prepare_cached("INSERT OR IGNORE INTO operations (service, name, kind) VALUES (?1, ?2, ?3)")
                .map_err(internal)?;
            for (service, name, kind) in new_operations.values() {
                insert_operation.execute(params![service, name, kind]).map_err(internal)?;
            }
        }
        transaction.commit().map_err(internal)?;

        self.resource_ids.extend(new_resources);
        self.scope_ids.extend(new_scopes);
        self.services.extend(new_services);
        self.operations.extend(new_operations.into_keys());
        Ok(Committed { outcome, new_traces })
    }
}

/// The id of a resource or scope body, inserting it when new.
fn body_id(
    transaction: &rusqlite::Transaction<'_>,
    table: &'static str,
    body: &Arc<str>,
    committed: &HashMap<Arc<str>, i64>,
    pending: &mut HashMap<Arc<str>, i64>,
) -> Result<i64, StoreError> {
    if let Some(id) = committed.get(body).or_else(|| pending.get(body)) {
        return Ok(*id);
    }
    let existing: Option<i64> = transaction
        .prepare_cached(&format!("SELECT id FROM {table} WHERE body = ?1"))
        .and_then(|mut statement| statement.query_row([&**body], |row| row.get(0)).optional())
        .map_err(internal)?;
    let id = match existing {
        Some(id) => id,
        None => {
            transaction.execute(&format!("INSERT INTO {table} (body) VALUES (?1)"), [&**body]).map_err(internal)?;
            transaction.last_insert_rowid()
        }
    };
    pending.insert(body.clone(), id);
    Ok(id)
}

fn operation_hash(service: &str, name: &str, kind: i32) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (service, name, kind).hash(&mut hasher);
    hasher.finish()
}
