//! The schema and its versioned migrations, applied at start (and by `semtrace db init`) under an
//! advisory lock so that several semtrace instances starting together migrate once.
//! `semtrace_migrations` records what was applied; a migration is appended, never edited, once
//! released.

use semtrace_store::StoreError;
use tokio_postgres::{Client, GenericClient};

use crate::{describe, internal, VectorIndex};

/// Advisory lock key of migrations ("semtrace" in ASCII, folded into 64 bits).
const MIGRATION_LOCK: i64 = 0x7365_6d74_7261_6365;

/// Migration `n` (1-based) as SQL; `{dim}` stands for the embedding dimension.
const MIGRATIONS: &[&str] = &[
    // 1: spans partitioned by day (the seeds' columns plus template and error text), their
    // shared resources and scopes, operations, per-trace aggregates, templates with embeddings.
    r#"
    CREATE TABLE resources (
        id bigserial PRIMARY KEY,
        hash bigint NOT NULL UNIQUE,            -- FNV-1a of the JSON body
        body jsonb NOT NULL                     -- attributes, dropped count, schema url
    );
    CREATE TABLE scopes (
        id bigserial PRIMARY KEY,
        hash bigint NOT NULL UNIQUE,
        body jsonb NOT NULL
    );
    CREATE TABLE operations (
        service text NOT NULL,
        name text NOT NULL,
        kind smallint NOT NULL,                 -- OTLP SpanKind number
        PRIMARY KEY (service, name, kind)
    );
    CREATE TABLE templates (
        id bigserial PRIMARY KEY,
        hash bigint NOT NULL UNIQUE,            -- semtrace_summary::template_hash of text
        text text NOT NULL,
        failed smallint NOT NULL,               -- 0 healthy, 1 failed, 2 failed with a reason
        words integer NOT NULL,                 -- words in text, for BM25
        embedding vector({dim}),                -- NULL until embedded
        created_at timestamptz NOT NULL DEFAULT now(),
        tsv tsvector GENERATED ALWAYS AS
            (to_tsvector('simple', regexp_replace(text, '[^[:alnum:]]+', ' ', 'g'))) STORED
    );
    CREATE INDEX templates_pending ON templates (id) WHERE embedding IS NULL;
    CREATE INDEX templates_tsv ON templates USING gin (tsv);
    -- The vector index (HNSW, or IVFFlat once there are enough rows) is made by `vector_index`.
    -- Which services have spans of a template, so a search filtered by service skips the others.
    CREATE TABLE template_services (
        service text NOT NULL,
        template_id bigint NOT NULL REFERENCES templates (id),
        PRIMARY KEY (service, template_id)
    );
    CREATE TABLE spans (
        trace_id bytea NOT NULL,                -- 16 bytes
        span_id bytea NOT NULL,                 -- 8 bytes
        parent_span_id bytea,                   -- NULL for a root span
        trace_state text NOT NULL,
        name text NOT NULL,
        kind smallint NOT NULL,
        service text NOT NULL,
        start_time timestamptz NOT NULL,        -- microseconds; start_ns/end_ns keep nanoseconds
        end_time timestamptz NOT NULL,
        start_ns bigint NOT NULL,
        end_ns bigint NOT NULL,
        status smallint NOT NULL,               -- OTLP StatusCode number: 0 unset, 1 ok, 2 error
        status_message text NOT NULL,
        flags bigint NOT NULL,
        attributes jsonb NOT NULL,              -- typed values, see semtrace_model::AnyValue
        events jsonb,
        links jsonb,
        dropped_attributes integer NOT NULL,
        dropped_events integer NOT NULL,
        dropped_links integer NOT NULL,
        resource_id bigint NOT NULL,
        scope_id bigint NOT NULL,
        template_id bigint,
        summary text NOT NULL,                  -- semtrace_summary's one-line summary
        error_type text,
        error_text text,                        -- exception messages, status message, error logs
        error_tsv tsvector GENERATED ALWAYS AS (CASE WHEN error_text IS NULL THEN NULL ELSE
            setweight(to_tsvector('simple', regexp_replace(coalesce(error_type, ''), '[^[:alnum:]]+', ' ', 'g')), 'A')
            || setweight(to_tsvector('simple', regexp_replace(error_text, '[^[:alnum:]]+', ' ', 'g')), 'B') END) STORED,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        -- Idempotent writes (a retried span has the same start time); also the trace-by-id index.
        PRIMARY KEY (trace_id, span_id, start_time)
    ) PARTITION BY RANGE (start_time);
    CREATE INDEX spans_start_status ON spans (start_time, status);
    CREATE INDEX spans_service_start ON spans (service, start_time);
    CREATE INDEX spans_name_start ON spans (name, start_time);
    CREATE INDEX spans_template_start ON spans (template_id, start_time);
    CREATE INDEX spans_attributes ON spans USING gin (attributes jsonb_path_ops);
    CREATE INDEX spans_errors ON spans USING gin (error_tsv) WHERE error_text IS NOT NULL;
    CREATE TABLE traces (
        trace_id bytea PRIMARY KEY,
        start_time timestamptz NOT NULL,
        start_ns bigint NOT NULL,
        end_ns bigint NOT NULL,
        span_count bigint NOT NULL,
        error_count bigint NOT NULL,
        root_service text,                      -- NULL until the root span arrives
        root_name text
    );
    CREATE INDEX traces_start ON traces (start_time);
    "#,
    // 2: template vectors now blend in their failure categories (semtrace-semantic, `blend`):
    // every template is embedded again, by the indexer, from its stored text.
    r#"
    UPDATE templates SET embedding = NULL WHERE embedding IS NOT NULL;
    "#,
    // The model now reads templates with their identifiers split into words
    // (`semtrace_summary::readable`): every template is embedded again.
    r#"
    UPDATE templates SET embedding = NULL WHERE embedding IS NOT NULL;
    "#,
    // 4: OTLP log records. Severe ones with trace context wait (join_state 1) for the joiner,
    // which makes them evidence of their span (2) or gives up after the join window (3);
    // the others need no join (0).
    r#"
    CREATE TABLE logs (
        id bigserial PRIMARY KEY,
        key bytea NOT NULL UNIQUE,              -- 16 bytes, stable hash of the record: idempotent writes
        trace_id bytea,                         -- NULL without trace context
        span_id bytea,
        time_ns bigint NOT NULL,                -- when it happened (else when observed)
        received_ns bigint NOT NULL,            -- when semtrace stored it: the join window counts from here
        severity_number smallint NOT NULL,
        severe boolean NOT NULL,                -- WARN or above, or an exception: error search finds it
        service text NOT NULL,
        record text NOT NULL,                   -- JSON of the record (semtrace_model::LogRecord) without resource and scope
        resource_id bigint NOT NULL,
        scope_id bigint NOT NULL,
        join_state smallint NOT NULL,           -- 0 no join, 1 waiting, 2 joined its span, 3 missed
        error_type text,
        error_text text,
        error_tsv tsvector GENERATED ALWAYS AS (CASE WHEN error_text IS NULL THEN NULL ELSE
            setweight(to_tsvector('simple', regexp_replace(coalesce(error_type, ''), '[^[:alnum:]]+', ' ', 'g')), 'A')
            || setweight(to_tsvector('simple', regexp_replace(error_text, '[^[:alnum:]]+', ' ', 'g')), 'B') END) STORED
    );
    CREATE INDEX logs_span ON logs (trace_id, span_id) WHERE trace_id IS NOT NULL;
    CREATE INDEX logs_waiting ON logs (id) WHERE join_state = 1;
    CREATE INDEX logs_service_time ON logs (service, time_ns);
    CREATE INDEX logs_errors ON logs USING gin (error_tsv) WHERE error_text IS NOT NULL;
    "#,
    // 5: how long each operation's spans usually take (semtrace_store::OperationBaseline), kept
    // after each batch's commit; spans stored before this migration are not counted.
    r#"
    ALTER TABLE operations ADD COLUMN span_count bigint NOT NULL DEFAULT 0,
                           ADD COLUMN log_duration_sum double precision NOT NULL DEFAULT 0;
    "#,
    // 6: a failed template's failure alone (semtrace_summary::SpanSummary::failure) and its
    // vector, which similar traces compare failures by. Templates stored before have none and
    // are compared by their whole text.
    r#"
    ALTER TABLE templates ADD COLUMN failure text,
                          ADD COLUMN failure_embedding vector({dim});
    "#,
    // 7: a failed template's error category (short name, or `unknown`): set from its text's
    // signatures when stored, else by the indexer (zero-shot); templates stored before have
    // none until the indexer files them.
    r#"
    ALTER TABLE templates ADD COLUMN category text;
    "#,
    // 8: the entities spans name (semtrace_store::entity), and those their resources name
    // (host.name, k8s.pod.name…). A trace's are a row per batch that brought spans of it, their
    // words (`semtrace_store::entity::term_id`) in an array under a GIN index: GIN's pending list
    // takes an array far cheaper than a B-tree takes a row per entity (which cost 30 % of the
    // ingest rate). `entity_values` lists the values with about how many traces name each (for
    // `/api/v1/entities`); a resource's are rows of `resource_entities`. Retention deletes the
    // trace rows by start.
    r#"
    CREATE TABLE trace_entity_terms (
        trace_id bytea NOT NULL,
        start_ns int8 NOT NULL,             -- the trace's earliest span in the batch
        terms int8[] NOT NULL
    );
    CREATE INDEX trace_entity_terms_terms ON trace_entity_terms USING gin (terms);
    CREATE INDEX trace_entity_terms_start ON trace_entity_terms USING brin (start_ns);
    CREATE TABLE entity_values (
        kind int2 NOT NULL,                 -- semtrace_store::entity::EntityKind::code
        value text NOT NULL,
        traces int8 NOT NULL,
        PRIMARY KEY (kind, value)
    );
    CREATE TABLE resource_entities (
        kind int2 NOT NULL,
        value text NOT NULL,
        resource_id int8 NOT NULL,
        PRIMARY KEY (kind, value, resource_id)
    );
    "#,
    // 9: each trace's importance (semtrace_store::importance), set as its spans are written;
    // traces stored before have 0.
    r#"
    ALTER TABLE traces ADD COLUMN importance double precision NOT NULL DEFAULT 0;
    "#,
    // 10: a span named by its volatile values (`GET /orders/12345`, a statement with literals)
    // counts under its masked operation (`semtrace_store::row::operation_name`), kept here;
    // NULL when that is its name. `operations` lists the masked names.
    r#"
    ALTER TABLE spans ADD COLUMN operation text;
    "#,
    // 11: several semtrace nodes on one database. A pending template is claimed for a while
    // (`claimed_by`, `claimed_until`) by the node that embeds it, so it is embedded once; each
    // stored embedding takes a number from one sequence (`embed_seq`), by which the other nodes
    // find it (and `embedded_by` says whose it is). Nodes record heartbeats in `semtrace_nodes`.
    // Span and trace totals are kept per node in `semtrace_counts`, each added to in the
    // transaction that inserts the spans, so the cluster's totals are exact and cheap to read;
    // the row '' holds what was stored before.
    r#"
    CREATE SEQUENCE template_embed_seq;
    ALTER TABLE templates ADD COLUMN embed_seq bigint,
                          ADD COLUMN embedded_by text,
                          ADD COLUMN claimed_by text,
                          ADD COLUMN claimed_until timestamptz;
    UPDATE templates SET embed_seq = nextval('template_embed_seq') WHERE embedding IS NOT NULL;
    CREATE INDEX templates_embed_seq ON templates (embed_seq) WHERE embed_seq IS NOT NULL;
    CREATE TABLE semtrace_nodes (
        node text PRIMARY KEY,
        version text NOT NULL,
        started_at timestamptz NOT NULL,
        heartbeat_at timestamptz NOT NULL,
        state jsonb NOT NULL
    );
    CREATE TABLE semtrace_counts (
        node text PRIMARY KEY,
        spans bigint NOT NULL,
        traces bigint NOT NULL
    );
    INSERT INTO semtrace_counts (node, spans, traces)
        SELECT '', (SELECT count(*) FROM spans), (SELECT count(*) FROM traces);
    "#,
    // 12: work one node does for all (joining log records to spans): the node leading each task
    // and until when, renewed while it works.
    r#"
    CREATE TABLE semtrace_leases (
        task text PRIMARY KEY,
        node text NOT NULL,
        until timestamptz NOT NULL
    );
    "#,
];

/// Creates the pgvector extension if needed, then applies the migrations not applied yet, and
/// checks that the embedding column has `dimension` dimensions. Under an advisory lock: nodes
/// starting at once take turns, the first does the work.
pub(crate) async fn migrate(client: &mut Client, dimension: u32) -> Result<(), StoreError> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await.map_err(internal)?;
    let result = match ensure_pgvector(client).await {
        Ok(()) => apply(client, dimension).await,
        Err(err) => Err(err),
    };
    let unlock = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await;
    result?;
    unlock.map_err(internal)?;
    check_dimension(client, dimension).await
}

async fn apply(client: &mut Client, dimension: u32) -> Result<(), StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS semtrace_migrations (
                version integer PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .map_err(internal)?;
    let applied: i32 = client
        .query_one("SELECT coalesce(max(version), 0) FROM semtrace_migrations", &[])
        .await
        .map_err(internal)?
        .get(0);
    let applied = applied as usize;
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Internal(format!(
            "the database has schema version {applied} but this semtrace knows only up to {}: upgrade semtrace",
            MIGRATIONS.len()
        )));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        let version = (index + 1) as i32;
        let sql = migration.replace("{dim}", &dimension.to_string());
        let transaction = client.transaction().await.map_err(internal)?;
        transaction
            .batch_execute(&sql)
            .await
            .map_err(|err| StoreError::Internal(format!("schema migration {version} failed: {}", describe(&err))))?;
        transaction
            .execute("INSERT INTO semtrace_migrations (version) VALUES ($1)", &[&version])
            .await
            .map_err(internal)?;
        transaction.commit().await.map_err(internal)?;
        tracing::info!(version, "applied schema migration");
    }
    if applied < CATEGORY_MIGRATION {
        file_old_templates(client).await?;
    }
    Ok(())
}

/// The migration that added `templates.category`.
const CATEGORY_MIGRATION: usize = 7;

/// Files failed templates stored before categories were under the category their text names,
/// once, so stores without the model find them by category too; the rest wait for the indexer.
async fn file_old_templates(client: &Client) -> Result<(), StoreError> {
    let rows = client
        .query("SELECT id, text FROM templates WHERE failed <> 0 AND category IS NULL", &[])
        .await
        .map_err(internal)?;
    let filed: Vec<(i64, String)> = rows
        .iter()
        .filter_map(|row| {
            let text: &str = row.get(1);
            Some((row.get(0), semtrace_summary::category_of_template(text)?.to_owned()))
        })
        .collect();
    if filed.is_empty() {
        return Ok(());
    }
    crate::write::set_categories(client, &filed).await
}

async fn ensure_pgvector(client: &Client) -> Result<(), StoreError> {
    let installed = client
        .query_opt("SELECT extversion FROM pg_extension WHERE extname = 'vector'", &[])
        .await
        .map_err(internal)?;
    if installed.is_some() {
        return Ok(());
    }
    let available = client
        .query_opt("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'", &[])
        .await
        .map_err(internal)?;
    if available.is_none() {
        return Err(StoreError::Internal(
            "pgvector is not installed on this PostgreSQL server (type \"vector\" does not exist): install the \
             pgvector extension for your PostgreSQL version (Debian/Ubuntu with the PostgreSQL apt repository: \
             postgresql-16-pgvector; or build it from source), then start semtrace again"
                .into(),
        ));
    }
    client.batch_execute("CREATE EXTENSION IF NOT EXISTS vector").await.map_err(|err| {
        StoreError::Internal(format!(
            "cannot create the pgvector extension ({}): run CREATE EXTENSION vector once in this database as \
             its owner or a superuser",
            describe(&err)
        ))
    })
}

async fn check_dimension(client: &Client, dimension: u32) -> Result<(), StoreError> {
    let row = client
        .query_one(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'templates'::regclass AND attname = 'embedding'",
            &[],
        )
        .await
        .map_err(internal)?;
    let stored: i32 = row.get(0);
    if stored != dimension as i32 {
        return Err(StoreError::Internal(format!(
            "the database stores {stored}-dim embeddings (templates.embedding is vector({stored})) but \
             embedding_dimension is {dimension}: use a model of {stored} dims, or another database"
        )));
    }
    Ok(())
}

/// IVFFlat is built once this many templates are embedded (seed 000: an IVFFlat index trained on
/// an empty or tiny table has useless lists).
pub(crate) const IVFFLAT_MIN_ROWS: i64 = 1000;

/// Makes the configured vector index over template embeddings, replacing the other kind:
/// HNSW at once; IVFFlat with `lists = sqrt(rows)` once [`IVFFLAT_MIN_ROWS`] templates are
/// embedded (until then searches scan, which at that size is fast anyway).
pub(crate) async fn vector_index(client: &mut Client, kind: VectorIndex) -> Result<(), StoreError> {
    if existing_vector_index(client).await?.as_deref() == Some(kind_name(kind)) {
        return Ok(());
    }
    // Nodes starting at once (or two IVFFlat rebuilds) take turns: the first builds, the others
    // find it built. (A transaction dropped unfinished rolls back, lock and all.)
    let transaction = client.transaction().await.map_err(internal)?;
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(internal)?;
    build_vector_index(&transaction, kind).await?;
    transaction.commit().await.map_err(internal)
}

fn kind_name(kind: VectorIndex) -> &'static str {
    match kind {
        VectorIndex::Hnsw => "hnsw",
        VectorIndex::Ivfflat => "ivfflat",
    }
}

/// The access method of the vector index, if there is one.
async fn existing_vector_index(client: &impl GenericClient) -> Result<Option<String>, StoreError> {
    Ok(client
        .query_opt(
            "SELECT am.amname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             JOIN pg_am am ON am.oid = c.relam
             WHERE c.relname = 'templates_embedding' AND c.relnamespace = current_schema()::regnamespace",
            &[],
        )
        .await
        .map_err(internal)?
        .map(|row| row.get(0)))
}

async fn build_vector_index(client: &impl GenericClient, kind: VectorIndex) -> Result<(), StoreError> {
    let wanted = kind_name(kind);
    if existing_vector_index(client).await?.as_deref() == Some(wanted) {
        return Ok(());
    }
    let create = match kind {
        VectorIndex::Hnsw => {
            "CREATE INDEX templates_embedding ON templates USING hnsw (embedding vector_cosine_ops)".to_owned()
        }
        VectorIndex::Ivfflat => {
            let rows: i64 = client
                .query_one("SELECT count(*) FROM templates WHERE embedding IS NOT NULL", &[])
                .await
                .map_err(internal)?
                .get(0);
            if rows < IVFFLAT_MIN_ROWS {
                return Ok(());
            }
            let lists = ((rows as f64).sqrt().round() as i64).max(1);
            format!("CREATE INDEX templates_embedding ON templates USING ivfflat (embedding vector_cosine_ops) WITH (lists = {lists})")
        }
    };
    client
        .batch_execute(&format!("DROP INDEX IF EXISTS templates_embedding; {create}"))
        .await
        .map_err(|err| StoreError::Internal(format!("cannot create the {wanted} vector index: {}", describe(&err))))?;
    tracing::info!(index = wanted, "vector index over template embeddings created");
    Ok(())
}
