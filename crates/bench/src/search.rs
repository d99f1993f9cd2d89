//! `semtrace bench quality` and `semtrace bench search`: search quality on the labelled corpus
//! (P@10 and MRR per query, for semantic, hybrid, the seeds' keyword search and full-text error
//! search) and search latency percentiles on a loaded server.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use opentelemetry_proto::tonic::common::v1::any_value::Value as ProtoValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use serde_json::Value;

use crate::ingest::{percentiles, span_count, spawn_server, Client, Payload, Protocol, Sent, Target};

/// The labelled corpus and the server it is sent to.
#[derive(Debug, Clone, clap::Args)]
pub struct CorpusArgs {
    /// Traces in the built-in labelled corpus (about 40% carry one of its fault types).
    #[arg(long, default_value_t = 2000)]
    pub traces: usize,
    /// Seed of the built-in corpus.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Start a server (`semtrace serve`) on free ports with this data directory (must be new or
    /// empty). Without it, `--api`/`--otlp-http` name a running server with no other data.
    #[arg(long)]
    pub spawn_data_dir: Option<PathBuf>,
    #[arg(long, default_value = "http://127.0.0.1:4318")]
    pub otlp_http: String,
    #[arg(long, default_value = "http://127.0.0.1:16686")]
    pub api: String,
}

impl CorpusArgs {
    /// The spawned server, else the running one.
    pub(crate) async fn target(&self) -> anyhow::Result<Target> {
        Target::spawn_or(self.spawn_data_dir.as_deref(), &self.otlp_http, "", &self.api).await
    }

    pub(crate) fn build(&self) -> semtrace_testkit::corpus::Corpus {
        semtrace_testkit::corpus::build(self.seed, self.traces)
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct QualityArgs {
    #[command(flatten)]
    pub corpus: CorpusArgs,
    /// Minimum similarity passed to search; by default the server's own.
    #[arg(long)]
    pub threshold: Option<f32>,
    /// Print every query's top results.
    #[arg(long)]
    pub verbose: bool,
    /// Extra search parameters, e.g. `failure_prior=0.1&lexical_weight=0.2`.
    #[arg(long, default_value = "")]
    pub params: String,
    /// The server already holds this corpus (same seed and size): do not send it again.
    #[arg(long)]
    pub no_send: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct SearchArgs {
    /// Queries to time (each a distinct text, so the query cache does not help); then the same
    /// again, cached.
    #[arg(long, default_value_t = 500)]
    pub queries: usize,
    /// Start a server on this (already loaded) data directory, e.g. one `bench ingest` filled.
    #[arg(long)]
    pub spawn_data_dir: Option<PathBuf>,
    #[arg(long, default_value = "http://127.0.0.1:16686")]
    pub api: String,
    /// Extra query parameters for every search, e.g. `service=checkout&status=ERROR`.
    #[arg(long, default_value = "")]
    pub params: String,
}

pub(crate) async fn get_json(client: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    let response = client.get(url).send().await.with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body: Value = response.json().await.with_context(|| format!("GET {url}: not JSON"))?;
    if !status.is_success() {
        bail!("GET {url}: {status}: {body}");
    }
    Ok(body)
}

/// Waits until the server holds `spans` spans and every template is embedded.
async fn wait_until_searchable(client: &reqwest::Client, api: &str, spans: u64) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let health = get_json(client, &format!("{api}/api/v1/health")).await?;
        let stored = health["total_spans"].as_u64().unwrap_or(0);
        let backlog = health["embedding_backlog"].as_u64().unwrap_or(u64::MAX);
        if stored >= spans && backlog == 0 {
            return Ok(health);
        }
        if Instant::now() > deadline {
            bail!("not searchable after 600 s: {stored} of {spans} spans stored, backlog {backlog}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(crate) fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Trace ids (hex) of results, first occurrence order.
fn result_traces(body: &Value) -> Vec<String> {
    let mut seen = HashSet::new();
    body["results"]
        .as_array()
        .map(|results| {
            results
                .iter()
                .filter_map(|result| result["trace_id"].as_str().map(str::to_owned))
                .filter(|trace| seen.insert(trace.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// (P@10, reciprocal rank) of a ranking.
fn score(ranking: &[String], relevant: &HashSet<String>) -> (f64, f64) {
    let hits = ranking.iter().take(10).filter(|trace| relevant.contains(*trace)).count();
    let first = ranking.iter().position(|trace| relevant.contains(trace));
    (hits as f64 / 10.0, first.map_or(0.0, |rank| 1.0 / (rank as f64 + 1.0)))
}

fn text_of(value: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> Option<String> {
    match value.as_ref()?.value.as_ref()? {
        ProtoValue::StringValue(text) => Some(text.clone()),
        ProtoValue::IntValue(value) => Some(value.to_string()),
        _ => None,
    }
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| text_of(&kv.value))
}

/// The seeds' keyword error search, made as generous as it can be: `LIKE '%keyword%'`
/// (case-insensitive) over every error text of a span (status message, `error.message`,
/// exception and log messages), newest first.
fn keyword_baseline(corpus: &semtrace_testkit::corpus::Corpus, keyword: &str) -> Vec<String> {
    let keyword = keyword.to_lowercase();
    let mut found: Vec<(u64, String)> = Vec::new();
    for request in &corpus.requests {
        for span in request.resource_spans.iter().flat_map(|rs| &rs.scope_spans).flat_map(|ss| &ss.spans) {
            let mut texts = vec![span.status.as_ref().map(|status| status.message.clone()).unwrap_or_default()];
            texts.extend(attribute(&span.attributes, "error.message"));
            for event in &span.events {
                texts.extend(attribute(&event.attributes, "exception.message"));
                texts.extend(attribute(&event.attributes, "log.message"));
            }
            if texts.iter().any(|text| text.to_lowercase().contains(&keyword)) {
                found.push((span.start_time_unix_nano, crate::ingest::hex_string(&span.trace_id)));
            }
        }
    }
    found.sort_by_key(|(start, _)| std::cmp::Reverse(*start));
    let mut seen = HashSet::new();
    found.into_iter().map(|(_, trace)| trace).filter(|trace| seen.insert(trace.clone())).collect()
}

pub async fn quality(args: QualityArgs) -> anyhow::Result<()> {
    let target = args.corpus.target().await?;
    let result = run_quality(&args, &target).await;
    target.stop().await;
    result
}

/// Sends the labelled corpus (unless `no_send`: the server holds it) and waits until it is
/// searchable; the server's health then, and the corpus's span count.
pub(crate) async fn load_corpus(
    corpus: &semtrace_testkit::corpus::Corpus,
    target: &Target,
    no_send: bool,
) -> anyhow::Result<(Value, usize)> {
    let spans: usize = corpus.requests.iter().map(span_count).sum();
    eprintln!(
        "sending the labelled corpus: {} traces, {spans} spans, {} queries",
        corpus.labels.len(),
        corpus.queries.len()
    );
    let url = format!("{}/v1/traces", target.otlp_http.trim_end_matches('/'));
    let mut sender = Client::connect(Protocol::Http, &url, "", false).await?;
    let payloads = corpus
        .requests
        .iter()
        .filter(|_| !no_send)
        .map(|request| Payload::encode(Protocol::Http, false, request))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for payload in &payloads {
        loop {
            match sender.send(payload).await? {
                Sent::Acknowledged => break,
                Sent::Refused => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
    let client = reqwest::Client::new();
    let started = Instant::now();
    let health = wait_until_searchable(&client, &target.api, spans as u64).await?;
    eprintln!("searchable {:.1} s after the last acknowledgement", started.elapsed().as_secs_f64());
    Ok((health, spans))
}

async fn run_quality(args: &QualityArgs, target: &Target) -> anyhow::Result<()> {
    let corpus = args.corpus.build();
    let (health, spans) = load_corpus(&corpus, target, args.no_send).await?;
    let client = reqwest::Client::new();
    let templates = health["templates"].as_u64().unwrap_or(0);
    eprintln!(
        "{templates} templates for {spans} spans ({:.1} spans per template)",
        spans as f64 / templates.max(1) as f64
    );

    let mut relevant_by_fault: HashMap<&str, HashSet<String>> = HashMap::new();
    for (trace, fault) in &corpus.labels {
        if let Some(fault) = fault {
            relevant_by_fault.entry(fault).or_default().insert(crate::ingest::hex_string(trace));
        }
    }
    let mut threshold = args.threshold.map(|t| format!("&threshold={t}")).unwrap_or_default();
    if !args.params.is_empty() {
        threshold.push('&');
        threshold.push_str(&args.params);
    }
    const METHODS: [&str; 4] = ["semantic", "hybrid", "keyword", "fulltext"];
    let mut totals = [(0.0f64, 0.0f64, f64::MAX); 4];
    let mut relevant_scores = Vec::new();
    let mut other_scores = Vec::new();
    println!(
        "{:<70} {:>8} {:>8} {:>8} {:>8}   (P@10; MRR)",
        "query [fault]", METHODS[0], METHODS[1], METHODS[2], METHODS[3]
    );
    for query in corpus.queries {
        let relevant: HashSet<String> = std::iter::once(&query.fault)
            .chain(query.also)
            .filter_map(|fault| relevant_by_fault.get(fault))
            .flatten()
            .cloned()
            .collect();
        let q = encode(query.text);
        let semantic =
            get_json(&client, &format!("{}/api/v1/search?q={q}&limit=10&mode=semantic{threshold}", target.api)).await?;
        let hybrid =
            get_json(&client, &format!("{}/api/v1/search?q={q}&limit=10&mode=hybrid{threshold}", target.api)).await?;
        let fulltext = get_json(&client, &format!("{}/api/v1/errors?q={q}&limit=50", target.api)).await?;
        let rankings = [
            result_traces(&semantic),
            result_traces(&hybrid),
            keyword_baseline(&corpus, query.keyword),
            result_traces(&fulltext),
        ];
        // Similarities of relevant and other results, to calibrate the default threshold.
        let wide = get_json(&client, &format!("{}/api/v1/search?q={q}&limit=50&mode=semantic&threshold=0", target.api))
            .await?;
        for result in wide["results"].as_array().into_iter().flatten() {
            let similarity = result["similarity"].as_f64().unwrap_or(0.0);
            if result["trace_id"].as_str().is_some_and(|trace| relevant.contains(trace)) {
                relevant_scores.push(similarity);
            } else {
                other_scores.push(similarity);
            }
        }
        let mut cells = Vec::new();
        for (method, ranking) in rankings.iter().enumerate() {
            let (precision, reciprocal) = score(ranking, &relevant);
            totals[method].0 += precision;
            totals[method].1 += reciprocal;
            totals[method].2 = totals[method].2.min(precision);
            cells.push(format!("{precision:.1};{reciprocal:.2}"));
        }
        let label = format!("{} [{}]", query.text, query.fault);
        println!("{:<70} {:>8} {:>8} {:>8} {:>8}", truncate(&label, 70), cells[0], cells[1], cells[2], cells[3]);
        if args.verbose {
            for result in hybrid["results"].as_array().into_iter().flatten().take(5) {
                let mark =
                    if result["trace_id"].as_str().is_some_and(|trace| relevant.contains(trace)) { "+" } else { "-" };
                println!(
                    "    {mark} {:.3} {}",
                    result["similarity"].as_f64().unwrap_or(0.0),
                    truncate(result["summary"].as_str().unwrap_or(""), 150)
                );
            }
        }
    }
    let n = corpus.queries.len() as f64;
    println!(
        "== search quality: {} queries, {} traces ({} faulty), {} templates",
        corpus.queries.len(),
        corpus.labels.len(),
        relevant_by_fault.values().map(HashSet::len).sum::<usize>(),
        templates
    );
    for (method, (precision, reciprocal, worst)) in METHODS.iter().zip(totals) {
        println!("{method:<9} mean P@10 {:.3}  MRR {:.3}  worst P@10 {:.1}", precision / n, reciprocal / n, worst);
    }
    let quantiles = |scores: &mut Vec<f64>| {
        scores.sort_by(f64::total_cmp);
        let at = |q: f64| scores.get(((scores.len().max(1) - 1) as f64 * q) as usize).copied().unwrap_or(f64::NAN);
        format!("p5 {:.3} p25 {:.3} p50 {:.3} p75 {:.3} p95 {:.3}", at(0.05), at(0.25), at(0.5), at(0.75), at(0.95))
    };
    println!("similarity of relevant results (top 50):   {}", quantiles(&mut relevant_scores));
    println!("similarity of irrelevant results (top 50): {}", quantiles(&mut other_scores));
    Ok(())
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        text.chars().take(max - 1).chain(std::iter::once('…')).collect()
    }
}

/// `count` distinct query texts: the corpus queries with different openings.
fn query_texts(count: usize) -> Vec<String> {
    const OPENINGS: &[&str] = &[
        "",
        "show ",
        "find ",
        "recent ",
        "all ",
        "any ",
        "list ",
        "why ",
        "where are ",
        "traces with ",
        "spans with ",
        "today ",
        "prod ",
        "latest ",
        "which services had ",
        "help me find ",
        "errors: ",
        "incidents of ",
        "problems with ",
        "investigate ",
    ];
    let mut texts = Vec::new();
    'outer: for opening in OPENINGS {
        for query in semtrace_testkit::corpus::build(1, 1).queries {
            texts.push(format!("{opening}{}", query.text));
            if texts.len() >= count {
                break 'outer;
            }
        }
    }
    texts
}

pub async fn search(args: SearchArgs) -> anyhow::Result<()> {
    let mut target = match &args.spawn_data_dir {
        Some(dir) => spawn_server(dir).await?,
        None => {
            Target { otlp_http: String::new(), otlp_grpc: String::new(), api: args.api.clone(), pid: None, child: None }
        }
    };
    let result = run_search(&args, &target).await;
    if let Some(mut child) = target.child.take() {
        let _ = child.kill().await;
    }
    result
}

async fn run_search(args: &SearchArgs, target: &Target) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let health = wait_until_searchable(&client, &target.api, 0).await?;
    let texts = query_texts(args.queries);
    let extra = if args.params.is_empty() { String::new() } else { format!("&{}", args.params) };
    let run = |texts: Vec<String>| {
        let client = client.clone();
        let api = target.api.clone();
        let extra = extra.clone();
        async move {
            let mut latencies = Vec::with_capacity(texts.len());
            let mut empty = 0usize;
            for text in texts {
                let url = format!("{api}/api/v1/search?q={}&limit=20{extra}", encode(&text));
                let started = Instant::now();
                let body = get_json(&client, &url).await?;
                latencies.push(started.elapsed());
                empty += usize::from(body["results"].as_array().is_none_or(|results| results.is_empty()));
            }
            latencies.sort();
            anyhow::Ok((latencies, empty))
        }
    };
    let (cold, empty) = run(texts.clone()).await?;
    let (warm, _) = run(texts.clone()).await?;
    println!(
        "== search latency: {} spans, {} templates stored; {} queries, limit 20{}; machine: {} cores",
        health["total_spans"],
        health["templates"],
        texts.len(),
        if extra.is_empty() { String::new() } else { format!(", {}", args.params) },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("uncached (query embedded): {}  ({empty} with no result)", percentiles(&cold));
    println!("cached query embedding:    {}", percentiles(&warm));
    Ok(())
}

#[derive(clap::Args)]
pub struct EmbedArgs {
    /// Distinct query texts to embed, one at a time, on each path.
    #[arg(long, default_value_t = 300)]
    pub queries: usize,
    /// The model: a folder, or a name looked up in `--models-dir` and the Hugging Face cache.
    #[arg(long, default_value = "all-MiniLM-L6-v2")]
    pub model: String,
    #[arg(long, default_value = "models")]
    pub models_dir: PathBuf,
}

/// Query embedding alone, as a search embeds it (one text per call), on the small encoder
/// (what `embed` picks for short texts) and on candle's model, with how far the two vectors are.
pub async fn embed(args: EmbedArgs) -> anyhow::Result<()> {
    let mut config = semtrace_server::config::Config::default();
    config.otel_storage.embedding_model = args.model.clone();
    config.semantic.models_dir = args.models_dir.clone();
    let embedder = semtrace_server::load_embedder(&config).await?;
    let texts = query_texts(args.queries);
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut tokens: Vec<usize> = texts.iter().map(|text| embedder.token_count(text)).collect::<Result<_, _>>()?;
        tokens.sort();
        let time =
            |embed: &dyn Fn(&str) -> anyhow::Result<Vec<f32>>| -> anyhow::Result<(Vec<Duration>, Vec<Vec<f32>>)> {
                embed(&texts[0])?; // warm the caches and the thread pool
                let mut latencies = Vec::with_capacity(texts.len());
                let mut vectors = Vec::with_capacity(texts.len());
                for text in &texts {
                    let started = Instant::now();
                    vectors.push(embed(text)?);
                    latencies.push(started.elapsed());
                }
                latencies.sort();
                Ok((latencies, vectors))
            };
        let (small, small_vectors) = time(&|text| Ok(embedder.embed(&[text])?.remove(0)))?;
        let (candle, candle_vectors) = time(&|text| Ok(embedder.embed_with_candle(&[text])?.remove(0)))?;
        let least = small_vectors
            .iter()
            .zip(&candle_vectors)
            .map(|(a, b)| semtrace_embed::cosine(a, b))
            .fold(f32::INFINITY, f32::min);
        println!(
            "== query embedding: {} texts ({}..{} tokens, median {}), model {}; machine: {} cores",
            texts.len(),
            tokens[0],
            tokens[tokens.len() - 1],
            tokens[tokens.len() / 2],
            embedder.name(),
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        println!("embed (small encoder): {}", percentiles(&small));
        println!("candle model:          {}", percentiles(&candle));
        println!("least cosine between the two paths' vectors: {least:.6}");
        Ok(())
    })
    .await?
}
