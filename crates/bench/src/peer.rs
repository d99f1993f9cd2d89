//! `semtrace bench peer`: the seeds' PostgreSQL design against semtrace's, on one PostgreSQL
//! server with the same spans.
//!
//! - **Seeds** (seed 001's `traces` table, seed 000's load test): one row per span with its own
//!   384-dim embedding, one autocommitted `INSERT` per span, B-tree and GIN indexes as seed 001
//!   creates them, IVFFlat built after loading with `lists = sqrt(rows)` (seed 000's advice) and
//!   queried with the seeds' `probes = 1`; HNSW with `--hnsw`.
//! - **semtrace**: [`PostgresStore`]: day-partitioned spans written by binary COPY, one embedding
//!   per template.
//!
//! Embedding every span with MiniLM costs far more than the database; measuring it for every row
//! would take hours, so it is measured on a sample of real per-span summaries
//! (`--embed-sample`), and the seeds' rows are given their template's vector (same model, same
//! dimension: the index and query costs do not depend on which vector a row holds). The seeds'
//! end-to-end ingest rate combines the two measured rates.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use semtrace_model::Span;
use semtrace_store::{SpanFilter, Store};
use semtrace_store_postgres::{PostgresOptions, PostgresStore};
use semtrace_testkit::{GeneratorConfig, TraceGenerator};
use tokio_postgres::{Client, NoTls};

use crate::ingest::percentiles;

#[derive(Debug, Clone, clap::Args)]
pub struct PeerArgs {
    /// A PostgreSQL server with pgvector (any database on it); the bench creates and drops the
    /// databases `semtrace_peer_ours` and `semtrace_peer_seeds` there.
    #[arg(long, default_value = "postgresql://postgres@127.0.0.1:25432/postgres")]
    pub connection_string: String,
    /// Spans loaded into each design.
    #[arg(long, default_value_t = 100_000)]
    pub spans: usize,
    /// Spans whose own summaries are embedded to measure per-span embedding throughput.
    #[arg(long, default_value_t = 512)]
    pub embed_sample: usize,
    /// Repetitions of each query type.
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
    /// Also build an HNSW index on the seeds' table (slow at 1M rows on 2 cores).
    #[arg(long)]
    pub hnsw: bool,
    /// Seed of the generated traffic.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

const OURS: &str = "semtrace_peer_ours";
const SEEDS: &str = "semtrace_peer_seeds";
/// Batches of 100 traces inserted for the seeds' "batch insert" figure.
const INSERT_BATCHES: usize = 10;

pub async fn peer(args: PeerArgs) -> anyhow::Result<()> {
    let machine =
        format!("{} cores, {}", std::thread::available_parallelism().map_or(0, |n| n.get()), std::env::consts::ARCH);
    let embedder = semtrace_server::load_embedder(&semtrace_server::config::Config::default()).await?;

    eprintln!("generating {} spans...", args.spans);
    let mut generator = TraceGenerator::new(GeneratorConfig { seed: args.seed, ..GeneratorConfig::default() });
    let limits = semtrace_receiver::ReceiverLimits::default();
    let mut take = |traces: usize| -> Vec<Span> {
        let (request, _) = generator.request(traces);
        semtrace_receiver::convert_request(request, &limits).accepted
    };
    let mut spans = Vec::with_capacity(args.spans + 1000);
    while spans.len() < args.spans {
        spans.extend(take(46));
    }
    let insert_batches: Vec<Vec<Span>> = (0..INSERT_BATCHES * 2).map(|_| take(100)).collect();
    let (ours_batches, seeds_batches) = insert_batches.split_at(INSERT_BATCHES);

    let admin = connect(&args.connection_string).await?;
    for name in [OURS, SEEDS] {
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
        admin.batch_execute(&format!("CREATE DATABASE {name}")).await?;
    }
    let ours_url = semtrace_testkit::postgres::database_url(&args.connection_string, OURS);
    let seeds_url = semtrace_testkit::postgres::database_url(&args.connection_string, SEEDS);

    // semtrace: COPY through the store, two writers as the pipeline runs them.
    eprintln!("semtrace: loading...");
    let store = Arc::new(PostgresStore::open(PostgresOptions::new(&ours_url)).await?);
    let started = Instant::now();
    let chunks: Vec<Vec<Span>> = spans.chunks(4096).map(<[Span]>::to_vec).collect();
    let permits = Arc::new(tokio::sync::Semaphore::new(2));
    let mut writes = tokio::task::JoinSet::new();
    for chunk in chunks {
        let (store, permit) = (store.clone(), permits.clone().acquire_owned().await?);
        writes.spawn(async move {
            let _permit = permit;
            store.write(&chunk).await
        });
    }
    while let Some(done) = writes.join_next().await {
        done??;
    }
    let ours_load = started.elapsed();
    let started = Instant::now();
    let mut templates = 0;
    loop {
        let pending = store.pending_templates(64).await?;
        if pending.is_empty() {
            break;
        }
        let texts: Vec<&str> = pending.iter().map(|template| template.text.as_str()).collect();
        let vectors = embed(&embedder, texts.iter().map(|text| text.to_string()).collect()).await?;
        templates += pending.len();
        let pairs: Vec<(i64, Vec<f32>)> = pending.iter().map(|t| t.id).zip(vectors).collect();
        store.set_template_embeddings(&pairs).await?;
    }
    let ours_embed = started.elapsed();
    let ours_db = connect(&ours_url).await?;
    let ours_size = database_size(&ours_db).await?;

    // The seeds: per-span summaries embedded (a sample), one INSERT per span.
    let template_vectors: HashMap<String, Vec<f32>> = ours_db
        .query("SELECT text, embedding FROM templates", &[])
        .await?
        .iter()
        .map(|row| (row.get::<_, String>(0), row.get::<_, pgvector::Vector>(1).to_vec()))
        .collect();
    let sample: Vec<String> =
        spans.iter().take(args.embed_sample).map(|span| semtrace_summary::summarize(span).text).collect();
    let started = Instant::now();
    {
        let embedder = embedder.clone();
        tokio::task::spawn_blocking(move || {
            for batch in sample.chunks(16) {
                embedder.embed(&batch.iter().map(String::as_str).collect::<Vec<_>>())?;
            }
            anyhow::Ok(())
        })
        .await??;
    }
    let per_span_embed_rate = args.embed_sample as f64 / started.elapsed().as_secs_f64();

    eprintln!("seeds: loading (one INSERT per span)...");
    let seeds_db = connect(&seeds_url).await?;
    seeds_db.batch_execute(SEEDS_SCHEMA).await.context("creating the seeds' schema")?;
    let insert = seeds_db.prepare(SEEDS_INSERT).await?;
    let rows: Vec<SeedRow> = spans.iter().map(|span| SeedRow::new(span, &template_vectors)).collect();
    let started = Instant::now();
    for row in &rows {
        row.insert(&seeds_db, &insert).await?;
    }
    let seeds_load = started.elapsed();
    let lists = ((rows.len() as f64).sqrt().round() as i64).max(1);
    let started = Instant::now();
    seeds_db
        .batch_execute(&format!(
            "SET maintenance_work_mem = '512MB';
             CREATE INDEX idx_traces_embedding ON traces USING ivfflat (embedding vector_cosine_ops) WITH (lists = {lists})"
        ))
        .await?;
    let ivfflat_build = started.elapsed();
    let hnsw_build = if args.hnsw {
        let started = Instant::now();
        seeds_db
            .batch_execute(
                "SET maintenance_work_mem = '1GB';
                 CREATE INDEX idx_traces_embedding_hnsw ON traces USING hnsw (embedding vector_cosine_ops)",
            )
            .await?;
        Some(started.elapsed())
    } else {
        None
    };
    seeds_db.batch_execute("ANALYZE traces").await?;
    let seeds_size = database_size(&seeds_db).await?;

    // Queries.
    eprintln!("querying...");
    let corpus = semtrace_testkit::corpus::build(7, 1);
    let query_texts: Vec<&str> = corpus.queries.iter().map(|query| query.text).collect();
    let query_vectors = embed(&embedder, query_texts.iter().map(|text| text.to_string()).collect()).await?;
    let keywords: Vec<&str> = corpus.queries.iter().map(|query| query.keyword).collect();
    let trace_ids: Vec<semtrace_model::TraceId> = spans.iter().step_by(97).map(|span| span.trace_id).collect();
    let n = args.queries;
    let open = SpanFilter::default();

    // The seeds' setting: one IVFFlat list probed.
    seeds_db.batch_execute("SET ivfflat.probes = 1").await?;
    let mut seeds_vector = Vec::new();
    let mut ours_vector = Vec::new();
    for i in 0..n {
        let vector = pgvector::Vector::from(query_vectors[i % query_vectors.len()].clone());
        let started = Instant::now();
        seeds_db.query("SELECT * FROM traces ORDER BY embedding <=> $1 LIMIT 10", &[&vector]).await?;
        seeds_vector.push(started.elapsed());
        let started = Instant::now();
        let ids: Vec<i64> = ours_db
            .query("SELECT id FROM templates ORDER BY embedding <=> $1 LIMIT 10", &[&vector])
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        store.spans_of_templates(&ids, &open, 10, semtrace_store::policy::PerTrace::OneSpan).await?;
        ours_vector.push(started.elapsed());
    }
    let mut seeds_errors = Vec::new();
    let mut ours_errors = Vec::new();
    let (mut seeds_found, mut ours_found) = (0usize, 0usize);
    for i in 0..n {
        let keyword = keywords[i % keywords.len()];
        let started = Instant::now();
        let found = seeds_db
            .query(
                "SELECT * FROM traces WHERE attributes->>'error.message' LIKE $1 LIMIT 20",
                &[&format!("%{keyword}%")],
            )
            .await?;
        seeds_errors.push(started.elapsed());
        seeds_found += found.len();
        let started = Instant::now();
        ours_found += store.search_errors(keyword, &open, 20).await?.len();
        ours_errors.push(started.elapsed());
    }
    let mut seeds_context = Vec::new();
    let mut ours_context = Vec::new();
    for i in 0..n {
        let trace_id = trace_ids[i % trace_ids.len()];
        let hex = trace_id.to_string();
        let started = Instant::now();
        seeds_db.query("SELECT * FROM traces WHERE trace_id = $1 ORDER BY start_time", &[&hex]).await?;
        seeds_context.push(started.elapsed());
        let started = Instant::now();
        store.get_trace(trace_id).await?;
        ours_context.push(started.elapsed());
    }
    let mut seeds_batch = Vec::new();
    let mut ours_batch = Vec::new();
    for batch in seeds_batches {
        let rows: Vec<SeedRow> = batch.iter().map(|span| SeedRow::new(span, &template_vectors)).collect();
        let started = Instant::now();
        for row in &rows {
            row.insert(&seeds_db, &insert).await?;
        }
        seeds_batch.push(started.elapsed());
    }
    for batch in ours_batches {
        let started = Instant::now();
        store.write(batch).await?;
        ours_batch.push(started.elapsed());
    }

    let rate = |count: usize, elapsed: Duration| count as f64 / elapsed.as_secs_f64();
    let seeds_insert_rate = rate(rows.len(), seeds_load);
    let seeds_end_to_end = 1.0 / (1.0 / seeds_insert_rate + 1.0 / per_span_embed_rate);
    let mib = |bytes: i64| bytes as f64 / (1024.0 * 1024.0);
    println!(
        "== peer comparison: {} spans, one PostgreSQL ({}), machine: {machine}",
        spans.len(),
        server_version(&admin).await?
    );
    println!("ingest, seeds: {seeds_insert_rate:.0} spans/s inserted (one INSERT per span, vectors precomputed); \
              per-span embedding {per_span_embed_rate:.0} spans/s (sample of {}); end to end {seeds_end_to_end:.0} spans/s",
        args.embed_sample);
    println!(
        "ingest, semtrace: {:.0} spans/s committed (COPY, 2 writers); {templates} templates embedded in {:.1} s; \
         end to end {:.0} spans/s",
        rate(spans.len(), ours_load),
        ours_embed.as_secs_f64(),
        rate(spans.len(), ours_load + ours_embed)
    );
    println!(
        "index build, seeds: IVFFlat (lists = {lists}) {:.1} s{}; semtrace: HNSW over {templates} templates, built as they arrive",
        ivfflat_build.as_secs_f64(),
        hnsw_build.map(|d| format!(", HNSW {:.1} s", d.as_secs_f64())).unwrap_or_default()
    );
    println!("size on disk (database): seeds {:.0} MiB, semtrace {:.0} MiB", mib(seeds_size), mib(ours_size));
    for (name, seeds, ours) in [
        ("vector similarity (top 10)", &mut seeds_vector, &mut ours_vector),
        ("error search (LIKE vs full text)", &mut seeds_errors, &mut ours_errors),
        ("trace context (by trace id)", &mut seeds_context, &mut ours_context),
        ("batch insert of 100 traces", &mut seeds_batch, &mut ours_batch),
    ] {
        seeds.sort();
        ours.sort();
        println!("{name}:\n  seeds    {}\n  semtrace {}", percentiles(seeds), percentiles(ours));
    }
    println!("error search rows found over {n} queries: seeds {seeds_found}, semtrace {ours_found}");
    Ok(())
}

/// Embeds texts in one model call on the blocking pool.
async fn embed(embedder: &Arc<semtrace_embed::Embedder>, texts: Vec<String>) -> anyhow::Result<Vec<Vec<f32>>> {
    let embedder = embedder.clone();
    Ok(tokio::task::spawn_blocking(move || embedder.embed(&texts.iter().map(String::as_str).collect::<Vec<_>>()))
        .await??)
}

pub(crate) async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, connection) =
        tokio_postgres::connect(url, NoTls).await.with_context(|| format!("cannot connect to {url}"))?;
    tokio::spawn(connection);
    Ok(client)
}

async fn database_size(client: &Client) -> anyhow::Result<i64> {
    Ok(client.query_one("SELECT pg_database_size(current_database())", &[]).await?.get(0))
}

async fn server_version(client: &Client) -> anyhow::Result<String> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), (SELECT extversion FROM pg_extension WHERE extname = 'vector')",
            &[],
        )
        .await?;
    let pgvector: Option<String> = row.get(1);
    Ok(format!("PostgreSQL {}, pgvector {}", row.get::<_, String>(0), pgvector.unwrap_or_else(|| "?".into())))
}

/// Seed 001's table and indexes (the IVFFlat index is built after loading, as seed 000 advises).
const SEEDS_SCHEMA: &str = "CREATE EXTENSION IF NOT EXISTS vector;
    CREATE TABLE traces (
        id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        trace_id TEXT NOT NULL,
        span_id TEXT NOT NULL,
        parent_span_id TEXT,
        trace_state TEXT,
        name TEXT NOT NULL,
        kind TEXT,
        start_time TIMESTAMP WITH TIME ZONE NOT NULL,
        end_time TIMESTAMP WITH TIME ZONE NOT NULL,
        status TEXT,
        attributes JSONB,
        events JSONB,
        links JSONB,
        summary TEXT,
        embedding vector(384),
        created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
        updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
    );
    CREATE INDEX idx_traces_trace_id ON traces(trace_id);
    CREATE INDEX idx_traces_start_time ON traces(start_time DESC);
    CREATE INDEX idx_traces_name ON traces(name);
    CREATE INDEX idx_traces_status ON traces(status) WHERE status IS NOT NULL;
    CREATE INDEX idx_traces_attributes ON traces USING GIN (attributes);
    CREATE INDEX idx_traces_events ON traces USING GIN (events);";

const SEEDS_INSERT: &str = "INSERT INTO traces (trace_id, span_id, parent_span_id, trace_state, name, kind, start_time,
        end_time, status, attributes, events, links, summary, embedding)
    VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7::float8 / 1e9), to_timestamp($8::float8 / 1e9), $9,
        $10::text::jsonb, $11::text::jsonb, $12::text::jsonb, $13, $14)";

/// A span as the seeds' adapter stores it: ids as hex text, JSON columns, summary, embedding.
struct SeedRow {
    trace_id: String,
    span_id: String,
    parent_span_id: Option<String>,
    trace_state: String,
    name: String,
    kind: String,
    start: f64,
    end: f64,
    status: String,
    attributes: String,
    events: String,
    links: String,
    summary: String,
    embedding: pgvector::Vector,
}

impl SeedRow {
    fn new(span: &Span, vectors: &HashMap<String, Vec<f32>>) -> Self {
        let summary = semtrace_summary::summarize(span);
        let vector = vectors.get(&summary.template).cloned().unwrap_or_else(|| vec![0.0; 384]);
        SeedRow {
            trace_id: span.trace_id.to_string(),
            span_id: span.span_id.to_string(),
            parent_span_id: span.parent_span_id.map(|id| id.to_string()),
            trace_state: span.trace_state.clone(),
            name: span.name.replace('\0', "\u{fffd}"),
            kind: format!("{:?}", span.kind),
            start: span.start_time_unix_nano as f64,
            end: span.end_time_unix_nano as f64,
            status: format!("{:?}", span.status.code),
            attributes: semtrace_store::encoding::attributes_to_json(&span.attributes).replace("\\u0000", "\\ufffd"),
            events: semtrace_store::encoding::to_json(&span.events),
            links: semtrace_store::encoding::to_json(&span.links),
            summary: summary.text,
            embedding: pgvector::Vector::from(vector),
        }
    }

    async fn insert(&self, client: &Client, statement: &tokio_postgres::Statement) -> anyhow::Result<()> {
        client
            .execute(
                statement,
                &[
                    &self.trace_id,
                    &self.span_id,
                    &self.parent_span_id,
                    &self.trace_state,
                    &self.name,
                    &self.kind,
                    &self.start,
                    &self.end,
                    &self.status,
                    &self.attributes,
                    &self.events,
                    &self.links,
                    &self.summary,
                    &self.embedding,
                ],
            )
            .await?;
        Ok(())
    }
}
