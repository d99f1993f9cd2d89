//! `semtrace bench similar`: how often "similar traces" of a trace with a known fault have the
//! same fault (same-fault share at `limit`, per fault kind), and how long each request takes.
//!
//! Runs on the built-in labelled corpus (sent to a spawned or running server), or on a running
//! server that holds any labelled corpus, given its labels (`tests/heldout*/labels.json`).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::ingest::{percentiles, Target};
use crate::search::{get_json, load_corpus};

#[derive(Debug, Clone, clap::Args)]
pub struct SimilarArgs {
    /// Labels of the corpus a running server holds: a JSON object of trace id (hex) → fault kind
    /// (null for healthy traces), as `tests/heldout*/labels.json`. Without it the built-in
    /// labelled corpus is sent (`--seed`, `--traces`).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    #[command(flatten)]
    pub corpus: crate::search::CorpusArgs,
    /// The server already holds the built-in corpus: do not send it again.
    #[arg(long)]
    pub no_send: bool,
    /// Traces asked about per fault kind (the first by trace id).
    #[arg(long, default_value_t = 20)]
    pub per_fault: usize,
    /// Similar traces asked for, and the share's denominator (less when a fault has fewer other
    /// traces).
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// Extra parameters for every request, e.g. `by=shape`.
    #[arg(long, default_value = "")]
    pub params: String,
    /// Print each fault kind's worst answer.
    #[arg(long)]
    pub verbose: bool,
    /// Latency only, on whatever the server holds (e.g. a data directory `bench ingest` filled):
    /// this many failed traces (the newest errors) and as many healthy ones (a search with
    /// `outcome=ok`), each asked for similar traces; percentiles per mode. No corpus is sent.
    #[arg(long)]
    pub timing: Option<usize>,
}

pub async fn similar(args: SimilarArgs) -> anyhow::Result<()> {
    let target = args.corpus.target().await?;
    let result = run(&args, &target).await;
    target.stop().await;
    result
}

async fn run(args: &SimilarArgs, target: &Target) -> anyhow::Result<()> {
    if let Some(count) = args.timing {
        return timing(args, target, count).await;
    }
    let labels: HashMap<String, String> = match &args.labels {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let labels: HashMap<String, Option<String>> = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a JSON object of labels", path.display()))?;
            labels.into_iter().filter_map(|(trace, fault)| Some((trace.to_ascii_lowercase(), fault?))).collect()
        }
        None => {
            let corpus = args.corpus.build();
            load_corpus(&corpus, target, args.no_send).await?;
            corpus
                .labels
                .iter()
                .filter_map(|(trace, fault)| {
                    Some((trace.iter().map(|byte| format!("{byte:02x}")).collect::<String>(), (*fault)?.to_owned()))
                })
                .collect()
        }
    };
    let mut by_fault: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (trace, fault) in &labels {
        by_fault.entry(fault).or_default().push(trace);
    }
    let client = reqwest::Client::new();
    let api = target.api.trim_end_matches('/');
    let extra = if args.params.is_empty() { String::new() } else { format!("&{}", args.params) };
    let mut timings: Vec<Duration> = Vec::new();
    let mut shares: Vec<(&str, f64, f64, String)> = Vec::new();
    for (fault, traces) in &mut by_fault {
        traces.sort_unstable();
        let denominator = args.limit.min(traces.len().saturating_sub(1)).max(1);
        let mut fault_shares = Vec::new();
        let mut worst: Option<(f64, String)> = None;
        for trace in traces.iter().take(args.per_fault) {
            let url = format!("{api}/api/v1/traces/{trace}/similar?limit={}{extra}", args.limit);
            let started = Instant::now();
            let body = get_json(&client, &url).await?;
            timings.push(started.elapsed());
            let results = body["results"].as_array().map(Vec::as_slice).unwrap_or_default();
            let same = results
                .iter()
                .take(args.limit)
                .filter(|result| result["trace_id"].as_str().and_then(|id| labels.get(id)).is_some_and(|f| f == fault))
                .count();
            let share = same as f64 / denominator as f64;
            fault_shares.push(share);
            if worst.as_ref().is_none_or(|(lowest, _)| share < *lowest) {
                let got: Vec<String> = results
                    .iter()
                    .map(|result| {
                        let id = result["trace_id"].as_str().unwrap_or("");
                        format!("{} ({})", labels.get(id).map_or("healthy", String::as_str), result["service"])
                    })
                    .collect();
                worst = Some((share, format!("{trace} by {}: {}", body["by"], got.join(", "))));
            }
        }
        let mean = fault_shares.iter().sum::<f64>() / fault_shares.len().max(1) as f64;
        let lowest = fault_shares.iter().copied().fold(f64::INFINITY, f64::min);
        shares.push((fault, mean, lowest, worst.map(|(_, text)| text).unwrap_or_default()));
    }
    println!("same-fault share at {} ({} traces per fault kind, {} kinds)", args.limit, args.per_fault, shares.len());
    println!("{:<32} {:>6} {:>6}", "fault", "mean", "min");
    for (fault, mean, lowest, worst) in &shares {
        println!("{fault:<32} {mean:>6.3} {lowest:>6.3}");
        if args.verbose && *lowest < 1.0 {
            println!("    worst: {worst}");
        }
    }
    let overall = shares.iter().map(|(_, mean, _, _)| mean).sum::<f64>() / shares.len().max(1) as f64;
    let below = shares.iter().filter(|(_, mean, _, _)| *mean < 0.5).count();
    println!("mean over fault kinds: {overall:.3}; kinds below 0.5: {below}");
    timings.sort_unstable();
    println!("latency of {} requests: {}", timings.len(), percentiles(&timings));
    Ok(())
}

/// Similar-traces latency on what the server holds, per mode.
async fn timing(args: &SimilarArgs, target: &Target, count: usize) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let api = target.api.trim_end_matches('/');
    let health = get_json(&client, &format!("{api}/api/v1/health")).await?;
    println!(
        "server holds {} spans, {} traces, {} templates",
        health["total_spans"], health["total_traces"], health["templates"]
    );
    let traces_of = |body: &serde_json::Value| -> Vec<String> {
        body["results"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|result| result["trace_id"].as_str().map(str::to_owned))
            .collect()
    };
    let mut traces = traces_of(&get_json(&client, &format!("{api}/api/v1/errors?limit={count}")).await?);
    let healthy = format!("{api}/api/v1/search?q=request+handled&outcome=ok&threshold=0&limit={count}");
    traces.extend(traces_of(&get_json(&client, &healthy).await?));
    traces.sort_unstable();
    traces.dedup();
    let extra = if args.params.is_empty() { String::new() } else { format!("&{}", args.params) };
    let mut by_mode: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    for trace in &traces {
        let url = format!("{api}/api/v1/traces/{trace}/similar?limit={}{extra}", args.limit);
        let started = Instant::now();
        let body = get_json(&client, &url).await?;
        let elapsed = started.elapsed();
        by_mode.entry(body["by"].as_str().unwrap_or("?").to_owned()).or_default().push(elapsed);
        by_mode.entry("all".to_owned()).or_default().push(elapsed);
    }
    for (mode, timings) in &mut by_mode {
        timings.sort_unstable();
        println!("{mode:<8} {:>5} requests: {}", timings.len(), percentiles(timings));
    }
    Ok(())
}
