//! `semtrace bench ann`: pgvector's HNSW index over template embeddings against the exact scan
//! semtrace's in-memory index does, at several template counts: build time and size, recall@10
//! against exact, and query latency per `hnsw.ef_search`.
//!
//! Embedding a million real templates with MiniLM would take over two hours here, so the
//! vectors are made around real ones: the generated traffic's span summaries are embedded by
//! the model (the centres: templates as services write them), and each stored vector is a
//! centre plus Gaussian noise, normalised (`--spread` sets how far: the mean cosine to its
//! centre is printed). Queries are made the same way. That gives clusters of near-identical
//! templates, as real telemetry has (one statement shape, many tables), which is harder for an
//! approximate index than well-separated points.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use semtrace_semantic::index::{dot, Priors, TemplateKind, VectorIndex};

use crate::ingest::percentiles;
use crate::peer::connect;

#[derive(Debug, Clone, clap::Args)]
pub struct AnnArgs {
    /// A PostgreSQL server with pgvector; the bench creates and drops the database
    /// `semtrace_ann` there.
    #[arg(long, default_value = "postgresql://postgres@127.0.0.1:25432/postgres")]
    pub connection_string: String,
    /// Template counts to measure at, ascending (each adds to the last).
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    pub templates: Vec<usize>,
    /// `hnsw.ef_search` values to query with.
    #[arg(long, value_delimiter = ',', default_value = "40,100,200,400")]
    pub ef_search: Vec<u32>,
    /// HNSW build parameters.
    #[arg(long, default_value_t = 16)]
    pub m: u32,
    #[arg(long, default_value_t = 64)]
    pub ef_construction: u32,
    /// Queries per setting.
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
    /// Real span summaries embedded as centres.
    #[arg(long, default_value_t = 1000)]
    pub centres: usize,
    /// Standard deviation of the noise added to each coordinate of a centre.
    #[arg(long, default_value_t = 0.03)]
    pub spread: f32,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

const DATABASE: &str = "semtrace_ann";
const K: usize = 10;

pub async fn ann(args: AnnArgs) -> anyhow::Result<()> {
    anyhow::ensure!(!args.templates.is_empty(), "--templates needs at least one count");
    let machine =
        format!("{} cores, {}", std::thread::available_parallelism().map_or(0, |n| n.get()), std::env::consts::ARCH);
    let centres = centres(&args).await?;
    let dimension = centres[0].len();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(args.seed);
    let around = |rng: &mut rand::rngs::SmallRng| -> Vec<f32> {
        let centre = &centres[rng.random_range(0..centres.len())];
        let mut vector: Vec<f32> = centre.iter().map(|x| x + gaussian(rng) * args.spread).collect();
        normalise(&mut vector);
        vector
    };
    let queries: Vec<Vec<f32>> = (0..args.queries).map(|_| around(&mut rng)).collect();
    let closeness: f32 = (0..200)
        .map(|_| {
            let centre = &centres[0];
            let mut vector: Vec<f32> = centre.iter().map(|x| x + gaussian(&mut rng) * args.spread).collect();
            normalise(&mut vector);
            dot(centre, &vector)
        })
        .sum::<f32>()
        / 200.0;

    let admin = connect(&args.connection_string).await?;
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")).await?;
    admin.batch_execute(&format!("CREATE DATABASE {DATABASE}")).await?;
    let url = semtrace_testkit::postgres::database_url(&args.connection_string, DATABASE);
    let db = connect(&url).await?;
    db.batch_execute(&format!(
        "CREATE EXTENSION IF NOT EXISTS vector;
         CREATE TABLE templates (id int8 PRIMARY KEY, embedding vector({dimension}) NOT NULL);"
    ))
    .await?;
    let pgvector: String =
        db.query_one("SELECT extversion FROM pg_extension WHERE extname = 'vector'", &[]).await?.get(0);
    println!(
        "bench ann: {machine}; pgvector {pgvector}; HNSW m={} ef_construction={}; {} queries; vectors: {} embedded \
         summaries as centres, noise {} (mean cosine to centre {closeness:.3})",
        args.m,
        args.ef_construction,
        args.queries,
        centres.len(),
        args.spread
    );

    let mut stored: Vec<Vec<f32>> = Vec::new();
    let index = VectorIndex::new(dimension);
    for &target in &args.templates {
        // Load up to `target` (unindexed, then index: as a bulk load does).
        db.batch_execute("DROP INDEX IF EXISTS templates_embedding").await?;
        let started = Instant::now();
        while stored.len() < target {
            let chunk: Vec<Vec<f32>> = (0..(target - stored.len()).min(2000)).map(|_| around(&mut rng)).collect();
            let ids: Vec<i64> = (stored.len()..stored.len() + chunk.len()).map(|id| id as i64).collect();
            let texts: Vec<String> = chunk.iter().map(|vector| literal(vector)).collect();
            db.execute("INSERT INTO templates SELECT * FROM unnest($1::int8[], $2::text[]::vector[])", &[&ids, &texts])
                .await?;
            stored.extend(chunk);
        }
        let load = started.elapsed();
        db.batch_execute("SET maintenance_work_mem = '4GB'").await?;
        db.batch_execute("VACUUM ANALYZE templates").await?;
        let started = Instant::now();
        db.batch_execute(&format!(
            "CREATE INDEX templates_embedding ON templates USING hnsw (embedding vector_cosine_ops)
             WITH (m = {}, ef_construction = {})",
            args.m, args.ef_construction
        ))
        .await?;
        let build = started.elapsed();
        let index_bytes: i64 = db.query_one("SELECT pg_relation_size('templates_embedding')", &[]).await?.get(0);
        println!(
            "\n{target} templates: loaded in {:.1} s, HNSW built in {:.1} s, index {:.1} MB",
            load.as_secs_f64(),
            build.as_secs_f64(),
            index_bytes as f64 / 1e6
        );

        // Exact: semtrace's own in-memory index (the scan search does today), timed too.
        while index.len() < stored.len() {
            let id = index.len();
            index.insert(id as i64, &stored[id], TemplateKind::default());
        }
        let mut exact_times = Vec::with_capacity(queries.len());
        let exact: Vec<Vec<i64>> = queries
            .iter()
            .map(|query| {
                let started = Instant::now();
                let top = index.top(query, K, -1.0, Priors::default());
                exact_times.push(started.elapsed());
                top.into_iter().map(|ranked| ranked.id).collect()
            })
            .collect();
        exact_times.sort();
        println!(
            "  exact scan in memory ({:.0} MB of vectors): {}",
            (target * dimension * 4) as f64 / 1e6,
            percentiles(&exact_times)
        );

        let select = db.prepare("SELECT id FROM templates ORDER BY embedding <=> $1 LIMIT 10").await?;
        for &ef in &args.ef_search {
            db.batch_execute(&format!("SET hnsw.ef_search = {ef}")).await?;
            let mut times: Vec<Duration> = Vec::with_capacity(queries.len());
            let (mut recall, mut closeness) = (0.0, 0.0);
            // One warm-up pass (the index into shared buffers), then the measured one.
            for _pass in 0..2 {
                times.clear();
                (recall, closeness) = (0.0, 0.0);
                for (query, want) in queries.iter().zip(&exact) {
                    let vector = pgvector::Vector::from(query.clone());
                    let started = Instant::now();
                    let rows = db.query(&select, &[&vector]).await?;
                    times.push(started.elapsed());
                    let got: Vec<i64> = rows.iter().map(|row| row.get(0)).collect();
                    recall += want.iter().filter(|id| got.contains(id)).count() as f64 / K as f64;
                    // How close what it found is to what exists: the mean similarity of its ten
                    // against the exact ten's (1.0 when it misses only near-ties).
                    let mean = |ids: &[i64]| {
                        ids.iter().map(|id| f64::from(dot(&stored[*id as usize], query))).sum::<f64>()
                            / ids.len().max(1) as f64
                    };
                    closeness += mean(&got) / mean(want);
                }
            }
            times.sort();
            println!(
                "  hnsw.ef_search {ef}: recall@10 {:.3}, similarity of the ten found / of the exact ten {:.4}, {}",
                recall / queries.len() as f64,
                closeness / queries.len() as f64,
                percentiles(&times)
            );
        }
    }
    drop(db);
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")).await?;
    Ok(())
}

/// The generated traffic's distinct span summaries, embedded by the model.
async fn centres(args: &AnnArgs) -> anyhow::Result<Vec<Vec<f32>>> {
    let embedder = semtrace_server::load_embedder(&semtrace_server::config::Config::default()).await?;
    let mut generator = semtrace_testkit::TraceGenerator::new(semtrace_testkit::GeneratorConfig {
        seed: args.seed,
        ..semtrace_testkit::GeneratorConfig::default()
    });
    let limits = semtrace_receiver::ReceiverLimits::default();
    let mut texts = std::collections::BTreeSet::new();
    for _ in 0..2000 {
        let (request, _) = generator.request(46);
        for span in semtrace_receiver::convert_request(request, &limits).accepted {
            texts.insert(semtrace_summary::summarize(&span).text);
        }
        if texts.len() >= args.centres {
            break;
        }
    }
    let texts: Vec<String> = texts.into_iter().take(args.centres).collect();
    eprintln!("embedding {} summaries as centres...", texts.len());
    let vectors = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Vec<f32>>> {
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(64) {
            vectors.extend(embedder.embed(&batch.iter().map(String::as_str).collect::<Vec<_>>())?);
        }
        Ok(vectors)
    })
    .await??;
    anyhow::ensure!(!vectors.is_empty(), "no summaries to embed");
    Ok(vectors)
}

fn normalise(vector: &mut [f32]) {
    let norm = dot(vector, vector).sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
}

/// A standard normal sample (Box–Muller).
fn gaussian(rng: &mut impl Rng) -> f32 {
    let u: f32 = rng.random_range(f32::EPSILON..1.0);
    let v: f32 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
}

/// pgvector's text form: `[x,y,…]`.
fn literal(vector: &[f32]) -> String {
    let mut text = String::with_capacity(vector.len() * 10 + 2);
    text.push('[');
    for (at, x) in vector.iter().enumerate() {
        if at > 0 {
            text.push(',');
        }
        text.push_str(&x.to_string());
    }
    text.push(']');
    text
}
