//! Jaeger trace search latency (`/jaeger/api/traces` with service, tag and minimum duration, as
//! Grafana's Jaeger data source sends it) on a loaded server: the query shapes are drawn from the
//! stored traces themselves, so every search has answers.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use serde_json::Value;

use crate::ingest::{percentiles, spawn_server, Target};
use crate::search::{encode, get_json};

#[derive(clap::Args, Debug)]
pub struct JaegerArgs {
    /// Searches to time, cycling through the query shapes found.
    #[arg(long, default_value_t = 300)]
    pub queries: usize,
    /// Traces each search asks for (Grafana's default is 20).
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Start a server on this (already loaded) data directory, e.g. one `bench ingest` filled.
    #[arg(long)]
    pub spawn_data_dir: Option<PathBuf>,
    #[arg(long, default_value = "http://127.0.0.1:16686")]
    pub api: String,
}

pub async fn jaeger(args: JaegerArgs) -> anyhow::Result<()> {
    let mut target = match &args.spawn_data_dir {
        Some(dir) => spawn_server(dir).await?,
        None => {
            Target { otlp_http: String::new(), otlp_grpc: String::new(), api: args.api.clone(), pid: None, child: None }
        }
    };
    let result = run(&args, &target).await;
    if let Some(mut child) = target.child.take() {
        let _ = child.kill().await;
    }
    result
}

/// One search: a service, one of its spans' tags, and a minimum duration under that span's.
struct Shape {
    service: String,
    tag: (String, String),
    min_duration_us: u64,
}

impl Shape {
    fn url(&self, api: &str, limit: usize) -> String {
        let tags = serde_json::json!({ &self.tag.0: &self.tag.1 }).to_string();
        format!(
            "{api}/jaeger/api/traces?service={}&tags={}&minDuration={}us&limit={limit}&start=0&lookback=custom",
            encode(&self.service),
            encode(&tags),
            self.min_duration_us
        )
    }
}

async fn run(args: &JaegerArgs, target: &Target) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let api = &target.api;
    let health = get_json(&client, &format!("{api}/api/v1/health")).await?;
    let services = get_json(&client, &format!("{api}/jaeger/api/services")).await?;
    let services: Vec<String> = serde_json::from_value(services["data"].clone()).context("services")?;
    let mut shapes = Vec::new();
    for service in &services {
        let url = format!("{api}/jaeger/api/traces?service={}&limit=5&start=0", encode(service));
        let found = get_json(&client, &url).await?;
        for trace in found["data"].as_array().into_iter().flatten() {
            let processes = &trace["processes"];
            let spans = trace["spans"].as_array().into_iter().flatten();
            for span in
                spans.filter(|span| processes[span["processID"].as_str().unwrap_or("")]["serviceName"] == *service)
            {
                // A tag of the span's own, not a derived one, with a value that repeats across
                // traces (no ids): the kind of filter people type.
                let tag = span["tags"].as_array().into_iter().flatten().find(|tag| {
                    let key = tag["key"].as_str().unwrap_or("");
                    !key.starts_with("otel.")
                        && key != "span.kind"
                        && key != "error"
                        && tag["value"].to_string().len() < 40
                });
                if let Some(tag) = tag {
                    let value = match &tag["value"] {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    shapes.push(Shape {
                        service: service.clone(),
                        tag: (tag["key"].as_str().unwrap_or("").to_owned(), value),
                        min_duration_us: span["duration"].as_u64().unwrap_or(0) / 2,
                    });
                    break;
                }
            }
        }
    }
    anyhow::ensure!(!shapes.is_empty(), "no stored span has a tag to search by: load the server first");
    let mut latencies = Vec::with_capacity(args.queries);
    let mut empty = 0usize;
    let mut traces = 0usize;
    for n in 0..args.queries {
        let url = shapes[n % shapes.len()].url(api, args.limit);
        let started = Instant::now();
        let body = get_json(&client, &url).await?;
        latencies.push(started.elapsed());
        let found = body["data"].as_array().map_or(0, Vec::len);
        traces += found;
        empty += usize::from(found == 0);
    }
    latencies.sort();
    println!(
        "== Jaeger trace search (service + tag + minDuration, limit {}): {} spans stored, {} query shapes over {} services; machine: {} cores",
        args.limit,
        health["total_spans"],
        shapes.len(),
        services.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{} searches: {}; {:.1} traces per answer, {} answers empty",
        latencies.len(),
        percentiles(&latencies),
        traces as f64 / args.queries.max(1) as f64,
        empty
    );
    Ok(())
}
