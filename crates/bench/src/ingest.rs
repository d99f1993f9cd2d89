//! `semtrace-bench ingest`: a seeded load generator and reporter.
//!
//! Pre-generates realistic OTLP requests (so generating costs nothing during the run), sends them
//! from N concurrent clients over OTLP/HTTP protobuf or OTLP/gRPC, retries what the server refuses
//! with a retryable code, and reports acknowledged spans/s, acknowledgement latency percentiles,
//! the server's peak RSS, then trace-by-id latency percentiles over the stored data. With
//! `--logs-per-span`, each trace request is preceded by an OTLP/HTTP logs request about its spans
//! (trace context set), so the log path and the joiner are measured too.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use semtrace_testkit::shaped::{Shape, ShapedGenerator};
use semtrace_testkit::{GeneratorConfig, TraceGenerator};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    Http,
    Grpc,
}

/// The traffic `bench ingest` sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TrafficShape {
    /// A checkout crossing five services in four stacks, 11 spans a trace, errors written as each
    /// stack prints them (`semtrace_testkit::TraceGenerator`); sized by `--traces-per-request`.
    Shop,
    /// A shape set by `--spans-per-trace`, `--attributes`, `--high-cardinality`, `--error-rate`
    /// and `--spans-per-request` (`semtrace_testkit::shaped`); its defaults are the traffic of
    /// an outside load generator: 10 spans a trace (HTTP server, database and gRPC client spans in
    /// turn), 6 attributes a span, every value that can be unique unique, 500 spans a request.
    Shaped,
}

#[derive(Debug, Clone, clap::Args)]
pub struct IngestArgs {
    /// The traffic to send.
    #[arg(long, value_enum, default_value = "shop")]
    pub shape: TrafficShape,
    /// `--shape shaped`: spans in a trace.
    #[arg(long, default_value_t = Shape::default().spans_per_trace)]
    pub spans_per_trace: usize,
    /// `--shape shaped`: attributes on a span.
    #[arg(long, default_value_t = Shape::default().attributes_per_span)]
    pub attributes: usize,
    /// `--shape shaped`: share of attribute values drawn unique (URLs with ids, SQL with
    /// literals, peer IPs, user agents, thread ids), 0.0–1.0.
    #[arg(long, default_value_t = Shape::default().high_cardinality)]
    pub high_cardinality: f64,
    /// `--shape shaped`: share of traces with a failed span, 0.0–1.0.
    #[arg(long, default_value_t = Shape::default().error_rate)]
    pub error_rate: f64,
    /// `--shape shaped`: share of spans named by their unique values (an HTTP server span by its
    /// path with the id, a database span by its statement with literals), 0.0–1.0
    #[arg(long, default_value_t = Shape::default().unique_names)]
    pub unique_names: f64,
    /// `--shape shaped`: spans in an export request (whole traces, so a few more).
    #[arg(long, default_value_t = 500)]
    pub spans_per_request: usize,
    /// Protocol the clients speak.
    #[arg(long, value_enum, default_value = "http")]
    pub protocol: Protocol,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Spans to send in all (about 11 per trace).
    #[arg(long, default_value_t = 200_000)]
    pub spans: usize,
    /// Traces per export request (an SDK batch of 512 spans is about 46 traces).
    #[arg(long, default_value_t = 46)]
    pub traces_per_request: usize,
    /// Gzip request bodies, as SDKs configured with compression do.
    #[arg(long)]
    pub gzip: bool,
    /// Seed of the generated traffic.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Time of the first generated span, in Unix nanoseconds [default: 2025-11-13, fixed, so
    /// runs compare]. To measure ingest into a store that already holds a run's spans, start
    /// later than they did (e.g. `$(date +%s%N)`), as live traffic does: spans older than what
    /// the store holds land in the middle of its time indexes instead of at their end.
    #[arg(long)]
    pub start_unix_nano: Option<u64>,
    /// Log records per span, sent over `POST /v1/logs` before the spans they are about (HTTP
    /// only): ERROR for a failed span, otherwise INFO, and WARN for one healthy span in twenty
    /// (a failure told only in logs, which the joiner joins). 0: no logs.
    #[arg(long, default_value_t = 0.0)]
    pub logs_per_span: f64,
    /// Trace-by-id queries after ingest.
    #[arg(long, default_value_t = 2000)]
    pub queries: usize,
    /// Start a server (this binary, `serve`) on free ports with this data directory, and measure it.
    /// Without it, the addresses below name a running server.
    #[arg(long)]
    pub spawn_data_dir: Option<PathBuf>,
    #[arg(long, default_value = "http://127.0.0.1:4318")]
    pub otlp_http: String,
    #[arg(long, default_value = "http://127.0.0.1:4317")]
    pub otlp_grpc: String,
    #[arg(long, default_value = "http://127.0.0.1:16686")]
    pub api: String,
    /// Process id of a running server, to report its peak RSS.
    #[arg(long)]
    pub server_pid: Option<u32>,
}

pub(crate) struct Target {
    pub otlp_http: String,
    pub otlp_grpc: String,
    pub api: String,
    pub pid: Option<u32>,
    pub child: Option<tokio::process::Child>,
}

impl Target {
    /// A server spawned on `spawn_data_dir` (this binary, `serve`, free ports), else the running
    /// server at these addresses.
    pub(crate) async fn spawn_or(
        spawn_data_dir: Option<&std::path::Path>,
        otlp_http: &str,
        otlp_grpc: &str,
        api: &str,
    ) -> anyhow::Result<Target> {
        Ok(match spawn_data_dir {
            Some(dir) => spawn_server(dir).await?,
            None => Target {
                otlp_http: otlp_http.to_owned(),
                otlp_grpc: otlp_grpc.to_owned(),
                api: api.to_owned(),
                pid: None,
                child: None,
            },
        })
    }

    /// Stops the server if this bench spawned it.
    pub(crate) async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM-free stop is fine here: the bench is over and the data dir is the bench's.
            let _ = child.kill().await;
        }
    }
}

pub async fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    let mut target =
        Target::spawn_or(args.spawn_data_dir.as_deref(), &args.otlp_http, &args.otlp_grpc, &args.api).await?;
    if target.child.is_none() {
        target.pid = args.server_pid;
    }
    let result = run_ingest(&args, &target).await;
    target.stop().await;
    result
}

async fn run_ingest(args: &IngestArgs, target: &Target) -> anyhow::Result<()> {
    let machine =
        format!("{} cores, {}", std::thread::available_parallelism().map_or(0, |n| n.get()), std::env::consts::ARCH);
    let mut generator = match args.shape {
        TrafficShape::Shop => {
            eprintln!(
                "generating {} spans of the shop's traffic, {} traces per request...",
                args.spans, args.traces_per_request
            );
            let defaults = GeneratorConfig::default();
            Traffic::Shop(TraceGenerator::new(GeneratorConfig {
                seed: args.seed,
                start_unix_nano: args.start_unix_nano.unwrap_or(defaults.start_unix_nano),
                ..defaults
            }))
        }
        TrafficShape::Shaped => {
            let shape = Shape {
                seed: args.seed,
                spans_per_trace: args.spans_per_trace,
                attributes_per_span: args.attributes,
                high_cardinality: args.high_cardinality,
                error_rate: args.error_rate,
                unique_names: args.unique_names,
                start_unix_nano: args.start_unix_nano.unwrap_or(Shape::default().start_unix_nano),
                ..Shape::default()
            };
            eprintln!(
                "generating {} spans shaped {shape:?}, {} spans per request...",
                args.spans, args.spans_per_request
            );
            Traffic::Shaped(ShapedGenerator::new(shape))
        }
    };
    let (mut protobuf_bytes, mut wire_bytes) = (0usize, 0usize);
    let mut bodies = Vec::new();
    let mut sample_ids = Vec::new();
    let mut n_spans_total = 0usize;
    let mut n_logs_total = 0usize;
    if args.logs_per_span > 0.0 && args.protocol != Protocol::Http {
        bail!("--logs-per-span is sent over OTLP/HTTP only: pass --protocol http");
    }
    while n_spans_total < args.spans {
        let (request, ids) = match &mut generator {
            Traffic::Shop(generator) => generator.request(args.traces_per_request),
            Traffic::Shaped(generator) => generator.request(args.spans_per_request),
        };
        n_spans_total += span_count(&request);
        protobuf_bytes += request.encoded_len();
        if sample_ids.len() < args.queries {
            sample_ids.extend(ids.into_iter().step_by(7));
        }
        let logs = (args.logs_per_span > 0.0).then(|| logs_about(&request, args.logs_per_span, n_spans_total));
        let logs = match logs {
            Some(logs) => {
                n_logs_total +=
                    logs.resource_logs.iter().flat_map(|r| &r.scope_logs).map(|s| s.log_records.len()).sum::<usize>();
                Some(encode_body(args.gzip, &logs.encode_to_vec())?)
            }
            None => None,
        };
        let payload = Payload::encode(args.protocol, args.gzip, &request)?;
        // gRPC frames a message in 5 bytes; tonic gzips it on the way out when asked.
        wire_bytes += match &payload {
            Payload::Http { body, .. } => body.len(),
            Payload::Grpc(request) if args.gzip => encode_body(true, &request.encode_to_vec())?.len() + 5,
            Payload::Grpc(request) => request.encoded_len() + 5,
        };
        bodies.push((logs, payload));
    }
    sample_ids.truncate(args.queries);
    let n_requests = bodies.len();
    let bytes_per_request = wire_bytes / n_requests.max(1);
    eprintln!(
        "sending {n_requests} requests ({bytes_per_request} bytes each on average) from {} clients over {:?}...",
        args.clients, args.protocol
    );

    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = target.pid.and_then(cpu_seconds);
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..args.clients {
        let bodies = bodies.clone();
        let next = next.clone();
        let protocol = args.protocol;
        let gzip = args.gzip;
        let otlp_http = format!("{}/v1/traces", target.otlp_http.trim_end_matches('/'));
        let otlp_logs = format!("{}/v1/logs", target.otlp_http.trim_end_matches('/'));
        let otlp_grpc = target.otlp_grpc.clone();
        clients.spawn(async move {
            let mut client = Client::connect(protocol, &otlp_http, &otlp_grpc, gzip).await?;
            let mut logs_client = Client::Http { client: reqwest::Client::new(), url: otlp_logs };
            let mut latencies = Vec::new();
            let mut refusals = 0usize;
            loop {
                let idx = next.fetch_add(1, Ordering::Relaxed);
                let Some((logs, request)) = bodies.get(idx) else { break };
                let sent = Instant::now();
                if let Some(body) = logs {
                    let payload = Payload::Http { body: body.clone(), gzip };
                    while let Sent::Refused = logs_client.send(&payload).await? {
                        refusals += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                loop {
                    match client.send(request).await? {
                        Sent::Acknowledged => break,
                        Sent::Refused => {
                            refusals += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                latencies.push(sent.elapsed());
            }
            anyhow::Ok((latencies, refusals))
        });
    }
    let mut latencies = Vec::new();
    let mut refusals = 0;
    while let Some(joined) = clients.join_next().await {
        let (client_latencies, client_refusals) = joined??;
        latencies.extend(client_latencies);
        refusals += client_refusals;
    }
    let elapsed = started.elapsed();
    let server_cpu = cpu_before.zip(target.pid.and_then(cpu_seconds)).map(|(before, after)| after - before);
    latencies.sort();
    println!(
        "== ingest: {:?} traffic over {:?}{}, {} clients, {} requests, {} spans, machine: {machine}",
        args.shape,
        args.protocol,
        if args.gzip { " gzip" } else { "" },
        args.clients,
        n_requests,
        n_spans_total
    );
    println!(
        "acknowledged spans/s: {:.0}  (wall {:.2} s; {} retryable refusals)",
        n_spans_total as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        refusals
    );
    if n_logs_total > 0 {
        println!(
            "acknowledged log records/s: {:.0} ({n_logs_total} records, sent before their spans)",
            n_logs_total as f64 / elapsed.as_secs_f64()
        );
    }
    println!(
        "bytes per span: {:.0} on the wire as sent, {:.0} as protobuf (spans only)",
        wire_bytes as f64 / n_spans_total as f64,
        protobuf_bytes as f64 / n_spans_total as f64
    );
    println!("ack latency per request: {}", percentiles(&latencies));
    if let Some(seconds) = server_cpu {
        // The server's own CPU per span: unlike spans/s, it does not depend on what else the
        // machine's cores are doing (the load generator runs on them too).
        println!(
            "server CPU: {seconds:.2} s ({:.1} µs per span, {:.2} cores busy)",
            seconds * 1e6 / n_spans_total as f64,
            seconds / elapsed.as_secs_f64()
        );
    }
    if let Some(pid) = target.pid {
        match peak_rss_kib(pid) {
            Some(kib) => println!("server peak RSS: {:.1} MiB", kib as f64 / 1024.0),
            None => println!("server peak RSS: unknown (cannot read /proc/{pid}/status)"),
        }
    }

    let http = reqwest::Client::new();
    let mut health: serde_json::Value = http.get(format!("{}/api/v1/health", target.api)).send().await?.json().await?;
    let sampling = !health["sampling"].is_null();
    if sampling {
        // Tail sampling holds spans until their traces are decided: the ingest is done when
        // nothing is held any more.
        let settling = Instant::now();
        while health["sampling"]["buffered_spans"] != 0 || health["sampling"]["hold_records"] != 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            health = http.get(format!("{}/api/v1/health", target.api)).send().await?.json().await?;
        }
        let total = elapsed + settling.elapsed();
        let cpu = target.pid.and_then(cpu_seconds).zip(cpu_before).map(|(after, before)| after - before);
        let sampled = &health["sampling"];
        println!(
            "sampling: all decided {:.2} s after the last ack (decision wait included); kept {} traces ({} spans), \
             dropped {} ({} spans); acknowledged-and-decided spans/s: {:.0}{}",
            settling.elapsed().as_secs_f64(),
            sampled["kept_traces"],
            sampled["kept_spans"],
            sampled["dropped_traces"],
            sampled["dropped_spans"],
            n_spans_total as f64 / total.as_secs_f64(),
            cpu.map_or(String::new(), |cpu| format!(
                ", server CPU {:.1} µs per span",
                cpu * 1e6 / n_spans_total as f64
            )),
        );
    }
    println!("stored: {} spans, {} traces", health["total_spans"], health["total_traces"]);
    if let (Some(disk), Some(spans)) = (health["disk_bytes"].as_u64(), health["total_spans"].as_u64()) {
        if spans > 0 {
            println!(
                "disk: {:.1} MiB, {:.0} bytes per stored span",
                disk as f64 / 1048576.0,
                disk as f64 / spans as f64
            );
        }
    }
    if sample_ids.is_empty() {
        return Ok(());
    }
    let mut query_latencies = Vec::with_capacity(sample_ids.len());
    for id in &sample_ids {
        let url = format!("{}/api/v1/traces/{}", target.api, hex_string(id));
        let sent = Instant::now();
        let response = http.get(&url).send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        query_latencies.push(sent.elapsed());
        if sampling && status == reqwest::StatusCode::NOT_FOUND {
            continue; // sampled out
        }
        if !status.is_success() {
            bail!("GET {url} answered {status}: {}", String::from_utf8_lossy(&body));
        }
    }
    query_latencies.sort();
    println!("trace by id ({} queries, HTTP round trip): {}", query_latencies.len(), percentiles(&query_latencies));
    Ok(())
}

/// The generator of the traffic asked for.
enum Traffic {
    Shop(TraceGenerator),
    Shaped(ShapedGenerator),
}

/// Log records about a request's spans, with their trace context and resource: on average
/// `per_span` per span; ERROR for a failed span, WARN for one healthy span in twenty (the
/// failures told only in logs), INFO otherwise. `salt` varies which spans get records.
fn logs_about(
    request: &ExportTraceServiceRequest,
    per_span: f64,
    salt: usize,
) -> opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest {
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    let mut n = salt;
    let mut resource_logs = Vec::new();
    for resource_spans in &request.resource_spans {
        let mut records = Vec::new();
        for span in resource_spans.scope_spans.iter().flat_map(|scope| &scope.spans) {
            n += 1;
            // Whole records for the integer part, one more for the fraction's share of spans.
            let count = per_span.floor() as usize + usize::from(((n * 7919) % 1000) as f64 / 1000.0 < per_span.fract());
            let failed = span.status.as_ref().is_some_and(|status| status.code == 2);
            for i in 0..count {
                let (severity_number, severity_text, body) = if failed && i == 0 {
                    (17, "ERROR", format!("{} failed: request could not be completed", span.name))
                } else if i == 0 && n.is_multiple_of(20) {
                    (
                        13,
                        "WARN",
                        format!("{} degraded: fallback price list used, pricing service returned nothing", span.name),
                    )
                } else {
                    (
                        9,
                        "INFO",
                        format!(
                            "{} handled in {} us",
                            span.name,
                            (span.end_time_unix_nano - span.start_time_unix_nano) / 1000
                        ),
                    )
                };
                records.push(LogRecord {
                    time_unix_nano: span.start_time_unix_nano + 1000 * (i as u64 + 1),
                    observed_time_unix_nano: span.end_time_unix_nano,
                    severity_number,
                    severity_text: severity_text.into(),
                    body: Some(AnyValue { value: Some(any_value::Value::StringValue(body)) }),
                    trace_id: span.trace_id.clone(),
                    span_id: span.span_id.clone(),
                    flags: 1,
                    ..Default::default()
                });
            }
        }
        if !records.is_empty() {
            resource_logs.push(ResourceLogs {
                resource: resource_spans.resource.clone(),
                scope_logs: vec![ScopeLogs { log_records: records, ..Default::default() }],
                schema_url: String::new(),
            });
        }
    }
    opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest { resource_logs }
}

fn encode_body(gzip: bool, body: &[u8]) -> anyhow::Result<bytes::Bytes> {
    if !gzip {
        return Ok(bytes::Bytes::copy_from_slice(body));
    }
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(body)?;
    Ok(encoder.finish()?.into())
}

pub(crate) fn span_count(request: &ExportTraceServiceRequest) -> usize {
    request.resource_spans.iter().flat_map(|rs| &rs.scope_spans).map(|ss| ss.spans.len()).sum()
}

pub(crate) fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `p50 … p95 … p99 … max …` of sorted durations, in milliseconds.
pub fn percentiles(sorted: &[Duration]) -> String {
    if sorted.is_empty() {
        return "no samples".into();
    }
    let at = |q: f64| sorted[((sorted.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0;
    format!("p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms", at(0.50), at(0.95), at(0.99), at(1.0))
}

/// User plus system CPU time a process has used, in seconds (from `/proc/PID/stat`).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux architecture semtrace builds for.
    Some(ticks as f64 / 100.0)
}

/// The peak resident set size of a process (VmHWM), in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

pub(crate) enum Sent {
    Acknowledged,
    Refused,
}

pub(crate) enum Client {
    Http { client: reqwest::Client, url: String },
    Grpc(TraceServiceClient<tonic::transport::Channel>),
}

impl Client {
    pub(crate) async fn connect(
        protocol: Protocol,
        otlp_http: &str,
        otlp_grpc: &str,
        gzip: bool,
    ) -> anyhow::Result<Client> {
        Ok(match protocol {
            Protocol::Http => Client::Http { client: reqwest::Client::new(), url: otlp_http.to_owned() },
            Protocol::Grpc => {
                let mut client = TraceServiceClient::connect(otlp_grpc.to_owned())
                    .await
                    .with_context(|| format!("cannot connect to OTLP/gRPC at {otlp_grpc}"))?
                    .max_decoding_message_size(64 << 20);
                if gzip {
                    client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
                }
                Client::Grpc(client)
            }
        })
    }

    pub(crate) async fn send(&mut self, payload: &Payload) -> anyhow::Result<Sent> {
        match (self, payload) {
            (Client::Http { client, url }, Payload::Http { body, gzip }) => {
                let mut builder = client.post(url.as_str()).header("content-type", "application/x-protobuf");
                if *gzip {
                    builder = builder.header("content-encoding", "gzip");
                }
                let response = builder.body(body.clone()).send().await?;
                let status = response.status();
                if status.is_success() {
                    return Ok(Sent::Acknowledged);
                }
                if status == 429 || status == 503 || status == 502 || status == 504 {
                    return Ok(Sent::Refused);
                }
                bail!("server answered {status}: {}", String::from_utf8_lossy(&response.bytes().await?))
            }
            (Client::Grpc(client), Payload::Grpc(request)) => match client.export(request.clone()).await {
                Ok(_) => Ok(Sent::Acknowledged),
                Err(status) if matches!(status.code(), tonic::Code::Unavailable | tonic::Code::ResourceExhausted) => {
                    Ok(Sent::Refused)
                }
                Err(status) => bail!("server answered {status}"),
            },
            _ => bail!("a payload encoded for one protocol sent over the other"),
        }
    }
}

/// A request as a client sends it, encoded before the run: what the load generator measures is
/// the server, and it shares the machine's cores with the server.
pub(crate) enum Payload {
    /// The protobuf body, gzipped when `gzip`.
    Http { body: bytes::Bytes, gzip: bool },
    /// tonic encodes the message itself (and gzips it, when the client is set to).
    Grpc(ExportTraceServiceRequest),
}

impl Payload {
    pub(crate) fn encode(
        protocol: Protocol,
        gzip: bool,
        request: &ExportTraceServiceRequest,
    ) -> anyhow::Result<Payload> {
        Ok(match protocol {
            Protocol::Grpc => Payload::Grpc(request.clone()),
            Protocol::Http => Payload::Http { body: encode_body(gzip, &request.encode_to_vec())?, gzip },
        })
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub(crate) async fn spawn_server(data_dir: &std::path::Path) -> anyhow::Result<Target> {
    let (grpc, http, api) = (free_port()?, free_port()?, free_port()?);
    let exe = crate::server_bin();
    let child = tokio::process::Command::new(&exe)
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--otlp-grpc-addr", &format!("127.0.0.1:{grpc}")])
        .args(["--otlp-http-addr", &format!("127.0.0.1:{http}")])
        .args(["--http-addr", &format!("127.0.0.1:{api}")])
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start `{} serve` (--server-bin names the semtrace binary)", exe.display()))?;
    let pid = child.id();
    let api_url = format!("http://127.0.0.1:{api}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if client
            .get(format!("{api_url}/api/v1/health"))
            .send()
            .await
            .is_ok_and(|response| response.status().is_success())
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("the spawned server did not become healthy within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(Target {
        otlp_http: format!("http://127.0.0.1:{http}"),
        otlp_grpc: format!("http://127.0.0.1:{grpc}"),
        api: api_url,
        pid,
        child: Some(child),
    })
}
