//! `semtrace import`: trace files (Jaeger JSON, OTLP JSON or JSON lines, OTLP protobuf; gzip or
//! zstd) sent to a running server over OTLP/HTTP, so they take the same path as live traffic:
//! its limits, back-pressure (429/503 answers are retried, honouring Retry-After), durability
//! and duplicate detection (a span already stored is not stored twice, so importing a file again
//! adds nothing). Files are read by [`crate::read_file`], streamed: memory is bounded by the batch
//! size and the largest trace, not by the file. `semtrace import` is this command; the import
//! crate, not the server, holds its OTLP client (OTLP types stay at the edges: ARCHITECTURE.md).

use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{FileReport, Item};
use anyhow::{bail, Context};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use semtrace_exporter::otlp_http;

/// The environment variable whose token the import sends (`Authorization: Bearer …`), as every
/// `semtrace` client command does.
pub const TOKEN_ENV: &str = "SEMTRACE_TOKEN";

/// The OTLP/HTTP endpoint an import sends to when `--otlp-endpoint` is not given.
pub const DEFAULT_OTLP_ENDPOINT: &str = "http://127.0.0.1:4318";

#[derive(clap::Args)]
pub struct ImportCommand {
    /// Files: Jaeger JSON (the query API's answer or the UI's download), OTLP JSON (a document or
    /// JSON lines, as the Collector's file exporter writes them), OTLP protobuf (one request, or
    /// the file exporter's length-prefixed stream); each may be gzip- or zstd-compressed.
    #[arg(required_unless_present_any = ["jaeger_url", "tempo_url"])]
    pub files: Vec<PathBuf>,
    /// Read from a running Jaeger query service instead: its base URL (`http://jaeger:16686`),
    /// per service (`--service`, else every one it lists) over the time range.
    #[arg(long, conflicts_with = "tempo_url")]
    pub jaeger_url: Option<String>,
    /// Read from a running Tempo instead: its base URL (`http://tempo:3200`); traces found by its
    /// search over the time range (`--query`), then read one by one.
    #[arg(long)]
    pub tempo_url: Option<String>,
    /// Jaeger: a service to read (repeatable) [default: every service].
    #[arg(long)]
    pub service: Vec<String>,
    /// Tempo: a TraceQL query choosing the traces (`{ resource.service.name = "api" }`).
    #[arg(long)]
    pub query: Option<String>,
    /// How far back from `--until` to read: `90m`, `24h`, `7d`.
    #[arg(long, default_value = "24h")]
    pub since: String,
    /// The end of the time range, RFC 3339 (`2026-12-01T00:00:00Z`) [default: now].
    #[arg(long)]
    pub until: Option<String>,
    /// Traces asked for per search request (a window that comes back full is split).
    #[arg(long, default_value_t = 500)]
    pub page_traces: usize,
    /// Bearer token for the Jaeger or Tempo read from (not semtrace's).
    #[arg(long, env = "SEMTRACE_IMPORT_SOURCE_TOKEN", hide_env_values = true)]
    pub source_token: Option<String>,
    /// The server's OTLP/HTTP endpoint (`/v1/traces` is added).
    #[arg(long, default_value = DEFAULT_OTLP_ENDPOINT)]
    pub otlp_endpoint: String,
    /// Spans per request.
    #[arg(long, default_value_t = 1000)]
    pub batch_spans: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Compress requests with gzip (worth it across a network, not on the same machine).
    #[arg(long)]
    pub gzip: bool,
    /// Exit with success even when some spans were rejected.
    #[arg(long)]
    pub allow_rejected: bool,
    /// How long to keep retrying a request the server refuses for now (429, 502–504, connection
    /// errors) before giving it up as rejected.
    #[arg(long, default_value_t = 300)]
    pub retry_seconds: u64,
    /// No progress display.
    #[arg(long)]
    pub quiet: bool,
}

/// Rejections kept for the summary; beyond it, only counted.
const SHOWN_REJECTIONS: usize = 50;

#[derive(Default)]
struct Tally {
    accepted: AtomicU64,
    rejected: AtomicU64,
    retries: AtomicU64,
    /// (file, where, why, spans).
    reasons: Mutex<Vec<(String, String, String, usize)>>,
    fatal: Mutex<Option<String>>,
    stop: AtomicBool,
    /// Said once that the server cannot be reached yet.
    told_unreachable: AtomicBool,
}

impl Tally {
    fn reject(&self, file: &str, origin: String, reason: String, spans: usize) {
        self.rejected.fetch_add(spans as u64, Ordering::Relaxed);
        let mut reasons = self.reasons.lock().expect("tally lock");
        if reasons.len() < SHOWN_REJECTIONS {
            reasons.push((file.to_owned(), origin, reason, spans));
        }
    }

    fn fail(&self, why: String) {
        self.stop.store(true, Ordering::Relaxed);
        self.fatal.lock().expect("tally lock").get_or_insert(why);
    }
}

enum Work {
    Batch { file: Arc<str>, request: ExportTraceServiceRequest, spans: usize },
    Rejected { file: Arc<str>, origin: String, reason: String, spans: usize },
    Done { file: Arc<str>, report: FileReport, error: Option<String> },
}

impl Work {
    fn of(file: &Arc<str>, item: Item) -> Work {
        match item {
            Item::Batch { request, spans } => Work::Batch { file: file.clone(), request, spans },
            Item::Rejected { origin, reason, spans } => Work::Rejected { file: file.clone(), origin, reason, spans },
        }
    }
}

pub async fn import(args: ImportCommand) -> anyhow::Result<()> {
    let mut total_bytes = 0;
    for file in &args.files {
        let metadata = std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?;
        total_bytes += metadata.len();
    }
    let url = format!("{}/v1/traces", args.otlp_endpoint.trim_end_matches('/'));
    let token = std::env::var(TOKEN_ENV).ok().filter(|token| !token.is_empty());
    let client = reqwest::Client::builder().build().context("cannot build the HTTP client")?;
    let concurrency = args.concurrency.max(1);
    let bytes_read = Arc::new(AtomicU64::new(0));
    let tally = Arc::new(Tally::default());
    let started = Instant::now();

    // Files are read on their own thread (parsing is CPU work), at most two batches per
    // request in flight ahead of the senders.
    let (work, mut queue) = tokio::sync::mpsc::channel::<Work>(concurrency * 2);
    // A running Jaeger or Tempo is read by a task of its own, into the reader thread.
    let (remote_origin, mut remote) = match (&args.jaeger_url, &args.tempo_url) {
        (None, None) => (None, None),
        (jaeger, tempo) => {
            let range = time_range(&args.since, args.until.as_deref())?;
            let (tx, rx) = tokio::sync::mpsc::channel(concurrency * 4);
            let (client, token, limit) = (client.clone(), args.source_token.clone(), args.page_traces.max(1));
            let origin = jaeger.clone().or_else(|| tempo.clone()).unwrap_or_default();
            let (jaeger, tempo, services, query) =
                (jaeger.clone(), tempo.clone(), args.service.clone(), args.query.clone());
            tokio::spawn(async move {
                if let Some(base) = jaeger {
                    crate::remote::jaeger(&client, &base, token.as_deref(), &services, range, limit, &tx).await;
                } else if let Some(base) = tempo {
                    crate::remote::tempo(&client, &base, token.as_deref(), query.as_deref(), range, limit, &tx).await;
                }
            });
            (Some(origin), Some(rx))
        }
    };
    let reader = {
        let files = args.files.clone();
        let bytes_read = bytes_read.clone();
        let tally = tally.clone();
        let batch_spans = args.batch_spans.max(1);
        std::thread::spawn(move || {
            for path in files {
                let file: Arc<str> = path.display().to_string().into();
                let mut emit = |item: Item| {
                    !tally.stop.load(Ordering::Relaxed) && work.blocking_send(Work::of(&file, item)).is_ok()
                };
                let (report, error) = match crate::read_file(&path, batch_spans, &bytes_read, &mut emit) {
                    Ok(report) => (report, None),
                    Err((report, err)) => (report, Some(err.to_string())),
                };
                if work.blocking_send(Work::Done { file, report, error }).is_err() {
                    return;
                }
            }
            if let (Some(origin), Some(remote)) = (remote_origin, remote.as_mut()) {
                let file: Arc<str> = origin.into();
                let mut emit = |item: Item| {
                    !tally.stop.load(Ordering::Relaxed) && work.blocking_send(Work::of(&file, item)).is_ok()
                };
                let mut batcher = crate::Batcher::new(batch_spans, &mut emit);
                while let Some(item) = remote.blocking_recv() {
                    if !batcher.add(item) {
                        break;
                    }
                }
                let report = batcher.finish();
                let _ = work.blocking_send(Work::Done { file, report, error: None });
            }
        })
    };
    let progress = Progress::start(&args, total_bytes, bytes_read.clone(), tally.clone(), started);
    let permits = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut reports: Vec<(Arc<str>, FileReport, Option<String>)> = Vec::new();
    while let Some(item) = queue.recv().await {
        match item {
            Work::Batch { file, request, spans } => {
                let permit = permits.clone().acquire_owned().await.expect("the semaphore is never closed");
                let (client, url, token, tally) = (client.clone(), url.clone(), token.clone(), tally.clone());
                let (gzip, retry_for) = (args.gzip, Duration::from_secs(args.retry_seconds));
                tokio::spawn(async move {
                    send(&client, &url, token.as_deref(), gzip, retry_for, &file, request, spans, &tally).await;
                    drop(permit);
                });
            }
            Work::Rejected { file, origin, reason, spans } => tally.reject(&file, origin, reason, spans),
            Work::Done { file, report, error } => reports.push((file, report, error)),
        }
        if tally.stop.load(Ordering::Relaxed) {
            break;
        }
    }
    drop(queue);
    let _all = permits.acquire_many(concurrency as u32).await.expect("the semaphore is never closed");
    let _ = reader.join();
    progress.finish();
    if let Some(fatal) = tally.fatal.lock().expect("tally lock").take() {
        bail!("{fatal}");
    }
    summarize(&reports, &tally, started.elapsed(), args.allow_rejected)
}

/// Sends one request, retrying what the server refuses for now; tallies what it accepted.
#[allow(clippy::too_many_arguments)]
async fn send(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    gzip: bool,
    retry_for: Duration,
    file: &str,
    request: ExportTraceServiceRequest,
    spans: usize,
    tally: &Tally,
) {
    let origin = || {
        let first = request
            .resource_spans
            .iter()
            .flat_map(|resource| &resource.scope_spans)
            .flat_map(|scope| &scope.spans)
            .next()
            .map(|span| hex(&span.trace_id))
            .unwrap_or_default();
        format!("a request of {spans} spans (from trace {first})")
    };
    let mut body = request.encode_to_vec();
    if gzip {
        let mut encoder =
            flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
        if encoder.write_all(&body).is_ok() {
            if let Ok(compressed) = encoder.finish() {
                body = compressed;
            }
        }
    }
    let deadline = Instant::now() + retry_for;
    let mut backoff = Duration::from_millis(50);
    loop {
        if tally.stop.load(Ordering::Relaxed) {
            return;
        }
        let (wait, why) = match otlp_http::attempt(client, url, token, gzip, &body).await {
            otlp_http::Attempt::Accepted { rejected_spans, message } => {
                let rejected_spans = usize::try_from(rejected_spans).unwrap_or_default().min(spans);
                tally.accepted.fetch_add((spans - rejected_spans) as u64, Ordering::Relaxed);
                if rejected_spans > 0 {
                    tally.reject(
                        file,
                        origin(),
                        format!("the server refused {rejected_spans}: {message}"),
                        rejected_spans,
                    );
                }
                return;
            }
            otlp_http::Attempt::Refused { status: status @ (401 | 403), message } => {
                tally.fail(format!(
                    "{url} refused the import ({status}): {message} (set {TOKEN_ENV} to a token with the ingest role)"
                ));
                return;
            }
            otlp_http::Attempt::Refused { status, message } => {
                tally.reject(file, origin(), format!("{status}: {message}"), spans);
                return;
            }
            otlp_http::Attempt::Retry { after, why } => {
                if why.starts_with("cannot reach") && !tally.told_unreachable.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "import: {why}; retrying for up to {} s (is `semtrace serve` running? --otlp-endpoint names it)",
                        retry_for.as_secs()
                    );
                }
                (after, why)
            }
        };
        if Instant::now() >= deadline {
            if tally.accepted.load(Ordering::Relaxed) == 0 && why.starts_with("cannot reach") {
                tally.fail(format!("{why} (is `semtrace serve` running? pass --otlp-endpoint URL)"));
            } else {
                tally.reject(file, origin(), format!("still refused after {} s: {why}", retry_for.as_secs()), spans);
            }
            return;
        }
        tally.retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(wait.unwrap_or(backoff)).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// `--since`/`--until` as microseconds since the epoch.
pub(crate) fn time_range(since: &str, until: Option<&str>) -> anyhow::Result<crate::remote::Range> {
    let end = match until {
        Some(text) => time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .with_context(|| format!("--until {text:?}: expected RFC 3339, e.g. 2026-12-01T00:00:00Z"))?,
        None => time::OffsetDateTime::now_utc(),
    };
    let since = since.trim();
    let (number, unit) = since.split_at(since.find(|c: char| !c.is_ascii_digit()).unwrap_or(since.len()));
    let number: u64 = number.parse().with_context(|| format!("--since {since:?}: expected e.g. 90m, 24h, 7d"))?;
    let seconds = match unit {
        "s" => number,
        "m" => number * 60,
        "h" | "" => number * 3600,
        "d" => number * 86_400,
        _ => bail!("--since {since:?}: the unit is s, m, h or d"),
    };
    let end_us = u64::try_from(end.unix_timestamp_nanos() / 1000).unwrap_or_default();
    Ok(crate::remote::Range { start_us: end_us.saturating_sub(seconds * 1_000_000), end_us })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Counts, rate and ETA while importing: a bar on a terminal, a plain line every few seconds
/// otherwise.
struct Progress {
    task: Option<tokio::task::JoinHandle<()>>,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn start(args: &ImportCommand, total: u64, read: Arc<AtomicU64>, tally: Arc<Tally>, started: Instant) -> Progress {
        if args.quiet {
            return Progress { task: None, bar: None };
        }
        let status = move |tally: &Tally| {
            let accepted = tally.accepted.load(Ordering::Relaxed);
            let rate = accepted as f64 / started.elapsed().as_secs_f64().max(1e-3);
            let rejected = tally.rejected.load(Ordering::Relaxed);
            format!("{accepted} spans, {rate:.0} spans/s, {rejected} rejected")
        };
        if std::io::stderr().is_terminal() {
            // Files: a bar over their bytes, with an ETA; a remote system: a spinner and counts.
            let (bar, template) = match total {
                0 => (indicatif::ProgressBar::new_spinner(), "{elapsed_precise} {spinner} {msg}"),
                _ => (
                    indicatif::ProgressBar::new(total),
                    "{elapsed_precise} [{bar:30}] {binary_bytes}/{binary_total_bytes} {msg} (eta {eta})",
                ),
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template(template)
                    .expect("the progress template is valid")
                    .progress_chars("=> "),
            );
            let shown = bar.clone();
            let task = tokio::spawn(async move {
                loop {
                    shown.set_position(read.load(Ordering::Relaxed));
                    shown.set_message(status(&tally));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
            return Progress { task: Some(task), bar: Some(bar) };
        }
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let read = read.load(Ordering::Relaxed);
                eprintln!(
                    "import: {}, {:.1} of {:.1} MB read, {:.0} s",
                    status(&tally),
                    read as f64 / 1e6,
                    total as f64 / 1e6,
                    started.elapsed().as_secs_f64()
                );
            }
        });
        Progress { task: Some(task), bar: None }
    }

    fn finish(self) {
        if let Some(task) = self.task {
            task.abort();
        }
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// What was imported and what was not, and why; an error when something was rejected (unless
/// allowed).
fn summarize(
    reports: &[(Arc<str>, FileReport, Option<String>)],
    tally: &Tally,
    elapsed: Duration,
    allow_rejected: bool,
) -> anyhow::Result<()> {
    let accepted = tally.accepted.load(Ordering::Relaxed);
    let rejected = tally.rejected.load(Ordering::Relaxed);
    let seconds = elapsed.as_secs_f64();
    println!(
        "imported {accepted} spans from {} file(s) in {seconds:.1} s ({:.0} spans/s); {rejected} rejected; {} requests retried",
        reports.len(),
        accepted as f64 / seconds.max(1e-3),
        tally.retries.load(Ordering::Relaxed)
    );
    println!(
        "  (acknowledged by the server, which stores a span it already holds once: a span imported before or repeated \
         in the files adds nothing; /api/v1/stats counts what is stored)"
    );
    let mut unreadable = 0;
    for (file, report, error) in reports {
        let mut kind = report.dialects.join(" + ");
        if kind.is_empty() {
            kind = report.format.map_or_else(|| "empty".to_owned(), |format| format.to_string());
        }
        if let Some(compression) = report.compression {
            kind.push_str(&format!(", {compression}"));
        }
        let hashed = match report.hashed_ids {
            0 => String::new(),
            n => format!(", {n} ids that were not hex hashed into ids"),
        };
        println!("  {file}: {kind}: {} spans read, {} refused while reading{hashed}", report.spans, report.rejected);
        if let Some(error) = error {
            unreadable += 1;
            println!("    not read to its end: {error}");
        }
    }
    let reasons = tally.reasons.lock().expect("tally lock");
    if !reasons.is_empty() {
        println!("rejected:");
        for (file, origin, reason, spans) in reasons.iter() {
            println!("  {file}: {origin} ({spans} spans): {reason}");
        }
        if reasons.len() == SHOWN_REJECTIONS {
            println!("  … (the first {SHOWN_REJECTIONS} shown)");
        }
    }
    if (rejected > 0 || unreadable > 0) && !allow_rejected {
        bail!("{rejected} spans rejected, {unreadable} file(s) not read to their end (--allow-rejected exits 0 all the same)");
    }
    Ok(())
}
