//! `semtrace export`: traces out of a running semtrace, as OTLP JSON lines (one
//! `{"resourceSpans": …}` per trace, what the Collector's file exporter writes and `semtrace
//! import` reads back) or Jaeger JSON (`{"data": [trace, …]}`, what Jaeger's UI and tools read).
//! Which traces: those a search finds (`--query`, search by meaning), or every trace over a time
//! range (`--since`/`--until`, per `--service` or every one), found through semtrace's
//! Jaeger-compatible API in the same adaptive windows as an import from Jaeger.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use serde_json::Value;

use crate::command::TOKEN_ENV;
use crate::remote::{self, Remote};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// OTLP JSON lines: one export request per trace, re-importable.
    Otlp,
    /// Jaeger JSON, as Jaeger's query API answers.
    Jaeger,
}

#[derive(clap::Args)]
pub struct ExportCommand {
    /// The file to write [default: standard output]; gzip-compressed when its name ends in `.gz`.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "otlp")]
    pub format: ExportFormat,
    /// The server's query API.
    #[arg(long, default_value = "http://127.0.0.1:16686")]
    pub server: String,
    /// Export the traces this search finds, e.g. "database connection timeouts".
    #[arg(long)]
    pub query: Option<String>,
    /// At most this many traces of the search.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Over a time range: a service to export (repeatable) [default: every service].
    #[arg(long)]
    pub service: Vec<String>,
    /// How far back from `--until`: `90m`, `24h`, `7d` [default: 24h; with `--query`, only when
    /// given].
    #[arg(long)]
    pub since: Option<String>,
    /// The end of the time range, RFC 3339 [default: now].
    #[arg(long)]
    pub until: Option<String>,
}

pub async fn export(args: ExportCommand) -> anyhow::Result<()> {
    let server = args.server.trim_end_matches('/').to_owned();
    let token = std::env::var(TOKEN_ENV).ok().filter(|token| !token.is_empty());
    let client = reqwest::Client::new();
    let ids = match &args.query {
        Some(query) => {
            // The search's own filters: a service, and the time range when one is given.
            let range = match (&args.since, &args.until) {
                (None, None) => None,
                (since, until) => {
                    Some(crate::command::time_range(since.as_deref().unwrap_or("24h"), until.as_deref())?)
                }
            };
            if args.service.len() > 1 {
                bail!("--query searches one --service at most (a search filters by one service)");
            }
            let filters = Filters { service: args.service.first().map(String::as_str), range };
            searched(&client, &server, token.as_deref(), query, args.limit, &filters).await?
        }
        None => {
            let range = crate::command::time_range(args.since.as_deref().unwrap_or("24h"), args.until.as_deref())?;
            in_range(&client, &server, token.as_deref(), &args.service, range).await?
        }
    };
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => {
            let file = std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
            let file = std::io::BufWriter::new(file);
            if path.extension().is_some_and(|extension| extension == "gz") {
                Box::new(flate2::write::GzEncoder::new(file, flate2::Compression::default()))
            } else {
                Box::new(file)
            }
        }
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let (mut traces, mut spans) = (0usize, 0usize);
    if args.format == ExportFormat::Jaeger {
        out.write_all(b"{\"data\": [\n")?;
    }
    for id in &ids {
        match args.format {
            ExportFormat::Otlp => {
                let body = get_json(&client, &format!("{server}/api/v3/traces/{id}"), token.as_deref()).await?;
                let resource_spans = &body["result"]["resourceSpans"];
                spans += resource_spans
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|resource| resource["scopeSpans"].as_array().into_iter().flatten())
                    .map(|scope| scope["spans"].as_array().map_or(0, Vec::len))
                    .sum::<usize>();
                serde_json::to_writer(&mut out, &serde_json::json!({ "resourceSpans": resource_spans }))?;
                out.write_all(b"\n")?;
            }
            ExportFormat::Jaeger => {
                let body = get_json(&client, &format!("{server}/api/traces/{id}"), token.as_deref()).await?;
                let trace = &body["data"][0];
                spans += trace["spans"].as_array().map_or(0, Vec::len);
                if traces > 0 {
                    out.write_all(b",\n")?;
                }
                serde_json::to_writer(&mut out, trace)?;
            }
        }
        traces += 1;
    }
    if args.format == ExportFormat::Jaeger {
        out.write_all(b"\n], \"total\": 0, \"limit\": 0, \"offset\": 0, \"errors\": null}\n")?;
    }
    out.flush()?;
    drop(out);
    let to = args.out.as_ref().map_or_else(|| "standard output".to_owned(), |path| path.display().to_string());
    eprintln!("exported {traces} traces ({spans} spans) to {to}");
    Ok(())
}

async fn get_json(client: &reqwest::Client, url: &str, token: Option<&str>) -> anyhow::Result<Value> {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach {url}: is `semtrace serve` running? (pass --server URL)"))?;
    let status = response.status();
    let body: Value = response.json().await.with_context(|| format!("{url} did not answer with JSON"))?;
    if !status.is_success() {
        bail!("{url} answered {status}: {body}");
    }
    Ok(body)
}

/// What narrows a search besides its words.
struct Filters<'a> {
    service: Option<&'a str>,
    range: Option<remote::Range>,
}

/// The traces a search finds, best first, each once.
async fn searched(
    client: &reqwest::Client,
    server: &str,
    token: Option<&str>,
    query: &str,
    limit: usize,
    filters: &Filters<'_>,
) -> anyhow::Result<Vec<String>> {
    let mut url = format!("{server}/api/v1/search?limit={limit}&q={}", remote::form_encode(query));
    if let Some(service) = filters.service {
        url.push_str(&format!("&service={}", remote::form_encode(service)));
    }
    if let Some(range) = filters.range {
        // Unix microseconds, which the search reads by their size.
        url.push_str(&format!("&start={}&end={}", range.start_us, range.end_us));
    }
    let body = get_json(client, &url, token).await?;
    let mut ids: Vec<String> = Vec::new();
    for result in body["results"].as_array().into_iter().flatten() {
        if let Some(id) = result["trace_id"].as_str() {
            if !ids.iter().any(|known| known == id) {
                ids.push(id.to_owned());
            }
        }
    }
    Ok(ids)
}

/// Every trace over the range, newest first, through the Jaeger-compatible API.
async fn in_range(
    client: &reqwest::Client,
    server: &str,
    token: Option<&str>,
    services: &[String],
    range: remote::Range,
) -> anyhow::Result<Vec<String>> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let (client, server, token, services) =
        (client.clone(), server.to_owned(), token.map(str::to_owned), services.to_vec());
    let reading = tokio::spawn(async move {
        remote::jaeger(&client, &server, token.as_deref(), &services, range, 500, &tx).await;
    });
    let mut ids = Vec::new();
    while let Some(remote) = rx.recv().await {
        match remote {
            Remote::Jaeger(trace) => {
                if let Some(id) =
                    trace.trace_id.clone().or_else(|| trace.spans.first().map(|span| span.trace_id().to_owned()))
                {
                    ids.push(id);
                }
            }
            Remote::Otlp(_) => {}
            Remote::Rejected { origin, reason } => bail!("{origin}: {reason}"),
        }
    }
    reading.await?;
    Ok(ids)
}
