//! The schema and its migrations. `PRAGMA user_version` holds the number of migrations applied;
//! a migration is appended, never edited, once released.

use rusqlite::Connection;
use semtrace_store::StoreError;

use crate::internal;

const MIGRATIONS: &[&str] = &[
    // 1: spans, their shared resources and scopes, per-trace aggregates, service and operation lists.
    r#"
    CREATE TABLE resources (
        id INTEGER PRIMARY KEY,
        body TEXT NOT NULL UNIQUE           -- JSON of the resource (attributes, dropped count, schema url)
    );
    CREATE TABLE scopes (
        id INTEGER PRIMARY KEY,
        body TEXT NOT NULL UNIQUE           -- JSON of the instrumentation scope
    );
    CREATE TABLE services (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    );
    CREATE TABLE operations (
        id INTEGER PRIMARY KEY,
        service_id INTEGER NOT NULL REFERENCES services(id),
        name TEXT NOT NULL,
        kind INTEGER NOT NULL,              -- OTLP SpanKind number
        UNIQUE (service_id, name, kind)
    );
    CREATE TABLE spans (
        id INTEGER PRIMARY KEY,
        trace_id BLOB NOT NULL,             -- 16 bytes
        span_id BLOB NOT NULL,              -- 8 bytes
        parent_span_id BLOB,                -- 8 bytes, NULL for a root span
        service_id INTEGER NOT NULL REFERENCES services(id),
        operation_id INTEGER NOT NULL REFERENCES operations(id),  -- name and kind
        start_ns INTEGER NOT NULL,
        end_ns INTEGER NOT NULL,
        status_code INTEGER NOT NULL,       -- OTLP StatusCode number: 0 unset, 1 ok, 2 error
        status_message TEXT NOT NULL,
        trace_state TEXT NOT NULL,
        flags INTEGER NOT NULL,
        attributes TEXT NOT NULL,           -- JSON object, typed values (see semtrace_model::AnyValue)
        events TEXT,                        -- JSON array, NULL when none
        links TEXT,                         -- JSON array, NULL when none
        dropped_attributes INTEGER NOT NULL,
        dropped_events INTEGER NOT NULL,
        dropped_links INTEGER NOT NULL,
        resource_id INTEGER NOT NULL REFERENCES resources(id),
        scope_id INTEGER NOT NULL REFERENCES scopes(id),
        UNIQUE (trace_id, span_id)          -- idempotent writes; also the trace-by-id index
    );
    -- Integer keys keep index entries small: under ingest every index costs an insert per span.
    CREATE INDEX spans_start ON spans (start_ns);
    CREATE INDEX spans_service_start ON spans (service_id, start_ns);
    CREATE INDEX spans_operation_start ON spans (operation_id, start_ns);
    CREATE INDEX spans_errors_start ON spans (start_ns) WHERE status_code = 2;
    CREATE TABLE traces (
        trace_id BLOB PRIMARY KEY,
        start_ns INTEGER NOT NULL,
        end_ns INTEGER NOT NULL,
        span_count INTEGER NOT NULL,
        error_count INTEGER NOT NULL,
        root_service TEXT,                  -- NULL until the root span arrives
        root_name TEXT
    ) WITHOUT ROWID;
    CREATE INDEX traces_start ON traces (start_ns);
    "#,
    // 2: span templates and their embeddings, full-text indexes for templates and errors.
    r#"
    CREATE TABLE templates (
        id INTEGER PRIMARY KEY,
        hash INTEGER NOT NULL UNIQUE,       -- semtrace_summary::template_hash of text
        text TEXT NOT NULL,
        failed INTEGER NOT NULL,            -- semtrace_summary::Outcome: 0 healthy, 1 failed, 2 failed with a reason
        embedding BLOB                      -- little-endian f32s; NULL until embedded
    );
    CREATE INDEX templates_pending ON templates (id) WHERE embedding IS NULL;
    -- Which services have spans of a template, so a search filtered by service skips the others.
    CREATE TABLE template_services (
        template_id INTEGER NOT NULL,
        service_id INTEGER NOT NULL,
        PRIMARY KEY (service_id, template_id)
    ) WITHOUT ROWID;
    CREATE VIRTUAL TABLE templates_fts USING fts5(text, content='templates', content_rowid='id');
    -- Error text of spans that report one; rowid = spans.id. Contentless: the text lives in spans.
    CREATE VIRTUAL TABLE errors_fts USING fts5(error_type, message, content='');
    ALTER TABLE spans ADD COLUMN template_id INTEGER REFERENCES templates(id);
    CREATE INDEX spans_template_start ON spans (template_id, start_ns);
    -- Every index costs an insert per span: time ranges are served by the composite indexes
    -- (service, operation, template, errors) and by traces_start.
    DROP INDEX spans_start;
    "#,
    // 3: no query reads spans by operation (searches go through templates, listings through
    // services), and every index costs each span an insert: bench ingest, 1M spans, see README.
    r#"
    DROP INDEX spans_operation_start;
    "#,
    // 4: template vectors now blend in their failure categories (semtrace-semantic, `blend`):
    // every template is embedded again, by the indexer, from its stored text.
    r#"
    UPDATE templates SET embedding = NULL WHERE embedding IS NOT NULL;
    "#,
    // The model now reads templates with their identifiers split into words
    // (`semtrace_summary::readable`): every template is embedded again.
    r#"
    UPDATE templates SET embedding = NULL WHERE embedding IS NOT NULL;
    "#,
    // 6: OTLP log records. Severe ones with trace context wait (join_state 1) for the joiner,
    // which makes them evidence of their span (2) or gives up after the join window (3);
    // the others need no join (0).
    r#"
    CREATE TABLE logs (
        id INTEGER PRIMARY KEY,
        key BLOB NOT NULL UNIQUE,           -- 16 bytes, stable hash of the record: idempotent writes
        trace_id BLOB,                      -- NULL without trace context
        span_id BLOB,
        time_ns INTEGER NOT NULL,           -- when it happened (else when observed)
        received_ns INTEGER NOT NULL,       -- when semtrace stored it: the join window counts from here
        severity_number INTEGER NOT NULL,
        severe INTEGER NOT NULL,            -- WARN or above, or an exception: error search finds it
        service_id INTEGER NOT NULL REFERENCES services(id),
        record TEXT NOT NULL,               -- JSON of the record (semtrace_model::LogRecord) without resource and scope
        resource_id INTEGER NOT NULL REFERENCES resources(id),
        scope_id INTEGER NOT NULL REFERENCES scopes(id),
        join_state INTEGER NOT NULL         -- 0 no join, 1 waiting, 2 joined its span, 3 missed
    );
    CREATE INDEX logs_span ON logs (trace_id, span_id) WHERE trace_id IS NOT NULL;
    CREATE INDEX logs_waiting ON logs (id) WHERE join_state = 1;
    CREATE INDEX logs_service_time ON logs (service_id, time_ns);
    -- Error text of severe records; rowid = logs.id. Contentless: the text lives in logs.
    CREATE VIRTUAL TABLE logs_fts USING fts5(error_type, message, content='');
    "#,
    // 7: how long each operation's spans usually take (semtrace_store::OperationBaseline), kept
    // as the writer inserts spans; spans stored before this migration are not counted.
    r#"
    ALTER TABLE operations ADD COLUMN span_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE operations ADD COLUMN log_duration_sum REAL NOT NULL DEFAULT 0;
    "#,
    // 8: a failed template's failure alone (semtrace_summary::SpanSummary::failure) and its
    // vector, which similar traces compare failures by. Templates stored before have none and
    // are compared by their whole text.
    r#"
    ALTER TABLE templates ADD COLUMN failure TEXT;
    ALTER TABLE templates ADD COLUMN failure_embedding BLOB;
    "#,
    // 9: only severe records are searched by service and time (error search): the index leaves
    // the routine ones out, which are most records and each paid an index insert for nothing.
    r#"
    DROP INDEX logs_service_time;
    CREATE INDEX logs_service_time ON logs (service_id, time_ns) WHERE severe = 1;
    "#,
    // 10: a failed template's error category (short name, or `unknown`): set from its text's
    // signatures when stored, else by the indexer (zero-shot); templates stored before have
    // none until the indexer files them.
    r#"
    ALTER TABLE templates ADD COLUMN category TEXT;
    "#,
    // 11: the entities spans name (semtrace_store::entity), and those their resources name
    // (host.name, k8s.pod.name…). A trace's are one document of `entities_fts` per batch that
    // brought spans of it (rowid = one of those spans; a word per entity,
    // `semtrace_store::entity::term`): a full-text index takes a document's words far cheaper
    // than a B-tree takes a row per entity. `entity_values` lists the values with about how many
    // traces name each (for `/api/v1/entities`); a resource's are rows of `resource_entities`.
    // Spans stored before have none.
    r#"
    CREATE VIRTUAL TABLE entities_fts USING fts5(terms, content='', detail='none');
    CREATE TABLE entity_values (
        kind INTEGER NOT NULL,              -- semtrace_store::entity::EntityKind::code
        value TEXT NOT NULL,
        traces INTEGER NOT NULL,
        PRIMARY KEY (kind, value)
    ) WITHOUT ROWID;
    CREATE TABLE resource_entities (
        kind INTEGER NOT NULL,
        value TEXT NOT NULL,
        resource_id INTEGER NOT NULL REFERENCES resources(id),
        PRIMARY KEY (kind, value, resource_id)
    ) WITHOUT ROWID;
    "#,
    // 12: each trace's importance (semtrace_store::importance), set as its spans are written;
    // traces stored before have 0.
    r#"
    ALTER TABLE traces ADD COLUMN importance REAL NOT NULL DEFAULT 0;
    "#,
    // 13: no index keyed by a random trace id per span. A span's unique key was (trace_id,
    // span_id): every trace of a batch dirtied a random leaf of that index (and another of
    // `traces`, keyed by trace id too), and once the index outgrew the page cache each was a
    // read as well: at 10M stored spans ingest ran at half its empty-store rate. Now a trace has
    // a number in order of arrival (`traces.id`, a rowid: rows append), looked up once per trace
    // and batch through `traces`' trace id index (one small entry per trace), and spans are
    // unique by (trace number, span id), which appends too. Spans and traces are copied over:
    // the time this takes grows with the store (about a minute per 10M spans).
    r#"
    CREATE TABLE traces_numbered (
        id INTEGER PRIMARY KEY,             -- the trace's number, in order of arrival
        trace_id BLOB NOT NULL UNIQUE,
        start_ns INTEGER NOT NULL,
        end_ns INTEGER NOT NULL,
        span_count INTEGER NOT NULL,
        error_count INTEGER NOT NULL,
        root_service TEXT,
        root_name TEXT,
        importance REAL NOT NULL DEFAULT 0
    );
    INSERT INTO traces_numbered (trace_id, start_ns, end_ns, span_count, error_count, root_service, root_name, importance)
        SELECT trace_id, start_ns, end_ns, span_count, error_count, root_service, root_name, importance
        FROM traces ORDER BY start_ns;
    DROP TABLE traces;
    ALTER TABLE traces_numbered RENAME TO traces;
    CREATE INDEX traces_start ON traces (start_ns);
    CREATE TABLE spans_numbered (
        id INTEGER PRIMARY KEY,
        trace_no INTEGER NOT NULL,          -- traces.id
        trace_id BLOB NOT NULL,
        span_id BLOB NOT NULL,
        parent_span_id BLOB,
        service_id INTEGER NOT NULL REFERENCES services(id),
        operation_id INTEGER NOT NULL REFERENCES operations(id),
        start_ns INTEGER NOT NULL,
        end_ns INTEGER NOT NULL,
        status_code INTEGER NOT NULL,
        status_message TEXT NOT NULL,
        trace_state TEXT NOT NULL,
        flags INTEGER NOT NULL,
        attributes NOT NULL,                -- semtrace_store::compact (BLOB), or JSON (TEXT) if older
        events TEXT,
        links TEXT,
        dropped_attributes INTEGER NOT NULL,
        dropped_events INTEGER NOT NULL,
        dropped_links INTEGER NOT NULL,
        resource_id INTEGER NOT NULL REFERENCES resources(id),
        scope_id INTEGER NOT NULL REFERENCES scopes(id),
        template_id INTEGER REFERENCES templates(id),
        UNIQUE (trace_no, span_id)          -- idempotent writes; also a trace's spans
    );
    INSERT INTO spans_numbered (id, trace_no, trace_id, span_id, parent_span_id, service_id, operation_id,
            start_ns, end_ns, status_code, status_message, trace_state, flags, attributes, events, links,
            dropped_attributes, dropped_events, dropped_links, resource_id, scope_id, template_id)
        SELECT s.id, t.id, s.trace_id, s.span_id, s.parent_span_id, s.service_id, s.operation_id,
            s.start_ns, s.end_ns, s.status_code, s.status_message, s.trace_state, s.flags, s.attributes, s.events,
            s.links, s.dropped_attributes, s.dropped_events, s.dropped_links, s.resource_id, s.scope_id, s.template_id
        FROM spans s JOIN traces t ON t.trace_id = s.trace_id
        ORDER BY s.id;
    DROP TABLE spans;
    ALTER TABLE spans_numbered RENAME TO spans;
    CREATE INDEX spans_service_start ON spans (service_id, start_ns);
    CREATE INDEX spans_errors_start ON spans (start_ns) WHERE status_code = 2;
    CREATE INDEX spans_template_start ON spans (template_id, start_ns);
    "#,
    // 14: a span named by volatile values (`GET /orders/12345`, a statement with literals)
    // counts under its masked operation (`semtrace_store::row::operation_name`) and keeps its
    // own name here; NULL when the operation's name is its name. One operation per span made
    // ingest 2.5 times slower and the operation list useless.
    r#"
    ALTER TABLE spans ADD COLUMN name TEXT;
    "#,
    // 15: `traces` loses its trace id index, whose random key cost each new trace a page write
    // once the store grew (at 20M spans, ingest 79K spans/s instead of 108K). Trace ids are
    // now looked up in `trace_keys`, which the writer fills in key order, a merge at a time,
    // and in memory for the traces numbered since (`trace_keys`); `store_state` says up to which
    // number the table is complete. `traces` is copied over (seconds per million traces).
    r#"
    CREATE TABLE trace_keys (
        trace_id BLOB PRIMARY KEY,
        id INTEGER NOT NULL                 -- traces.id
    ) WITHOUT ROWID;
    INSERT INTO trace_keys (trace_id, id) SELECT trace_id, id FROM traces ORDER BY trace_id;
    CREATE TABLE traces_unkeyed (
        id INTEGER PRIMARY KEY,             -- the trace's number, in order of arrival
        trace_id BLOB NOT NULL,             -- found through trace_keys
        start_ns INTEGER NOT NULL,
        end_ns INTEGER NOT NULL,
        span_count INTEGER NOT NULL,
        error_count INTEGER NOT NULL,
        root_service TEXT,
        root_name TEXT,
        importance REAL NOT NULL DEFAULT 0
    );
    INSERT INTO traces_unkeyed (id, trace_id, start_ns, end_ns, span_count, error_count, root_service, root_name, importance)
        SELECT id, trace_id, start_ns, end_ns, span_count, error_count, root_service, root_name, importance
        FROM traces ORDER BY id;
    DROP TABLE traces;
    ALTER TABLE traces_unkeyed RENAME TO traces;
    CREATE INDEX traces_start ON traces (start_ns);
    CREATE TABLE store_state (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO store_state (name, value) SELECT 'trace_keys_through', coalesce(max(id), 0) FROM traces;
    "#,
    // 16: log records are found by their trace's number, not by an index keyed by random trace
    // ids, which cost each record a random leaf (with one record a span, ingest wrote 4.9 KB a
    // span against 1.2 KB without). A trace that log records bring before its spans gets its
    // number then, and a row without spans (`span_count` 0) until they come. Here: `trace_keys`
    // is completed, traces only records name get their row, and each record its trace's number.
    r#"
    INSERT OR IGNORE INTO trace_keys (trace_id, id)
        SELECT trace_id, id FROM traces
        WHERE id > (SELECT value FROM store_state WHERE name = 'trace_keys_through') ORDER BY trace_id;
    INSERT INTO traces (trace_id, start_ns, end_ns, span_count, error_count)
        SELECT trace_id, min(time_ns), max(time_ns), 0, 0 FROM logs l
        WHERE trace_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM trace_keys k WHERE k.trace_id = l.trace_id)
        GROUP BY trace_id;
    INSERT OR IGNORE INTO trace_keys (trace_id, id)
        SELECT trace_id, id FROM traces WHERE span_count = 0 ORDER BY trace_id;
    UPDATE store_state SET value = (SELECT coalesce(max(id), 0) FROM traces) WHERE name = 'trace_keys_through';
    ALTER TABLE logs ADD COLUMN trace_no INTEGER;    -- traces.id; NULL without trace context
    UPDATE logs SET trace_no = (SELECT id FROM trace_keys k WHERE k.trace_id = logs.trace_id)
        WHERE trace_id IS NOT NULL;
    DROP INDEX logs_span;
    CREATE INDEX logs_trace ON logs (trace_no, span_id) WHERE trace_no IS NOT NULL;
    -- Traces without spans yet: left out of the trace count.
    CREATE INDEX traces_awaiting_spans ON traces (id) WHERE span_count = 0;
    "#,
];

/// Brings the database to the newest schema, refusing one newer than this build knows.
pub(crate) fn migrate(connection: &Connection) -> Result<(), StoreError> {
    let applied: usize = connection.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(internal)?;
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Internal(format!(
            "the database has schema version {applied} but this semtrace knows only up to {}: upgrade semtrace",
            MIGRATIONS.len()
        )));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        let version = index + 1;
        let batch = format!("BEGIN; {migration}; PRAGMA user_version = {version}; COMMIT;");
        connection.execute_batch(&batch).map_err(|err| {
            let _ = connection.execute_batch("ROLLBACK");
            StoreError::Internal(format!("schema migration {version} failed: {err}"))
        })?;
    }
    if applied < CATEGORY_MIGRATION {
        file_old_templates(connection)?;
    }
    Ok(())
}

/// Applies the first `version` migrations only: a database as an older semtrace left it.
#[cfg(test)]
pub(crate) fn migrate_to(connection: &Connection, version: usize) {
    for (index, migration) in MIGRATIONS.iter().enumerate().take(version) {
        connection.execute_batch(&format!("BEGIN; {migration}; PRAGMA user_version = {}; COMMIT;", index + 1)).unwrap();
    }
}

/// The migration that added `templates.category`.
const CATEGORY_MIGRATION: usize = 10;

/// Files failed templates stored before categories were under the category their text names,
/// once, so stores without the model find them by category too; the rest wait for the indexer.
fn file_old_templates(connection: &Connection) -> Result<(), StoreError> {
    let templates: Vec<(i64, String)> = connection
        .prepare("SELECT id, text FROM templates WHERE failed != 0 AND category IS NULL")
        .and_then(|mut statement| statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?.collect())
        .map_err(internal)?;
    let mut update = connection.prepare("UPDATE templates SET category = ?2 WHERE id = ?1").map_err(internal)?;
    for (id, text) in templates {
        if let Some(category) = semtrace_summary::category_of_template(&text) {
            update.execute(rusqlite::params![id, category]).map_err(internal)?;
        }
    }
    Ok(())
}
