//! `semtrace-bench import`: `semtrace import` of a large Jaeger JSON file into a fresh server:
//! spans/s end to end (acknowledged, so stored), and the importer's peak memory, which stays
//! bounded because the file is streamed. The file is written first from the shaped traffic
//! generator (the same traces `bench ingest --shape shaped` sends), as Jaeger's query API
//! answers: `{"data": [trace, …]}`.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use semtrace_testkit::shaped::{Shape, ShapedGenerator};

use crate::ingest::{peak_rss_kib, spawn_server};

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// Spans in the file.
    #[arg(long, default_value_t = 1_000_000)]
    pub spans: usize,
    /// Attributes per span (the shaped generator's; real SDKs send 10–30).
    #[arg(long, default_value_t = 12)]
    pub attributes: usize,
    /// Write the file gzip-compressed.
    #[arg(long)]
    pub gzip: bool,
    /// Where to write the file [default: beside the data directory].
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Data directory of the server this bench starts (must not exist or be empty).
    #[arg(long)]
    pub spawn_data_dir: PathBuf,
    /// Repeats of the import, each into a fresh server (the file is written once).
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// Start time of the first trace, ns since the epoch [default: the generator's fixed one].
    #[arg(long)]
    pub start_unix_nano: Option<u64>,
    /// The generator's seed (another seed, other trace ids).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Only write the file (to `--file`), import nothing.
    #[arg(long)]
    pub write_only: bool,
}

pub async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let file = args.file.clone().unwrap_or_else(|| {
        let mut name = args.spawn_data_dir.as_os_str().to_owned();
        name.push(if args.gzip { ".jaeger.json.gz" } else { ".jaeger.json" });
        PathBuf::from(name)
    });
    let written = Instant::now();
    let spans = write_file(&file, args.spans, args.attributes, args.gzip, args.start_unix_nano, args.seed)?;
    let size = std::fs::metadata(&file)?.len();
    eprintln!(
        "wrote {spans} spans as Jaeger JSON to {} ({:.1} MB) in {:.1} s",
        file.display(),
        size as f64 / 1e6,
        written.elapsed().as_secs_f64()
    );
    if args.write_only {
        return Ok(());
    }
    let machine = format!("{} cores", std::thread::available_parallelism().map_or(0, |n| n.get()));
    let mut rates = Vec::new();
    for run in 1..=args.runs.max(1) {
        let data_dir =
            if args.runs > 1 { args.spawn_data_dir.join(format!("run{run}")) } else { args.spawn_data_dir.clone() };
        std::fs::create_dir_all(&data_dir)?;
        let target = spawn_server(&data_dir).await?;
        let started = Instant::now();
        let mut child = std::process::Command::new(crate::server_bin())
            .arg("import")
            .arg("--quiet")
            .args(["--otlp-endpoint", &target.otlp_http])
            .arg(&file)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .context("cannot start `semtrace import`")?;
        // The importer's peak memory, sampled until it exits.
        let pid = child.id();
        let mut peak_kib = 0;
        let status = loop {
            if let Some(kib) = peak_rss_kib(pid) {
                peak_kib = peak_kib.max(kib);
            }
            if let Some(status) = child.try_wait()? {
                break status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let elapsed = started.elapsed().as_secs_f64();
        let mut out = String::new();
        if let Some(mut stdout) = child.stdout.take() {
            std::io::Read::read_to_string(&mut stdout, &mut out)?;
        }
        let server_peak = target.pid.and_then(peak_rss_kib).unwrap_or_default();
        target.stop().await;
        if !status.success() {
            bail!("semtrace import failed: {out}");
        }
        let rate = spans as f64 / elapsed;
        rates.push(rate);
        println!(
            "run {run}: {spans} spans imported in {elapsed:.1} s: {rate:.0} spans/s; importer peak RSS {:.0} MiB, server peak RSS {:.0} MiB",
            peak_kib as f64 / 1024.0,
            server_peak as f64 / 1024.0
        );
        print!("  {}", out.lines().next().unwrap_or_default());
        println!();
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "== import of a Jaeger JSON file ({spans} spans, {:.1} MB{}), {machine}: median {:.0} spans/s over {} run(s) (min {:.0}, max {:.0})",
        size as f64 / 1e6,
        if args.gzip { ", gzip" } else { "" },
        rates[rates.len() / 2],
        rates.len(),
        rates[0],
        rates[rates.len() - 1]
    );
    Ok(())
}

/// Writes `spans` spans of shaped traffic as `{"data": [trace, …]}`; returns how many.
fn write_file(
    path: &std::path::Path,
    spans: usize,
    attributes: usize,
    gzip: bool,
    start_unix_nano: Option<u64>,
    seed: u64,
) -> anyhow::Result<usize> {
    let file = std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut out: Box<dyn Write> = if gzip {
        Box::new(flate2::write::GzEncoder::new(std::io::BufWriter::new(file), flate2::Compression::fast()))
    } else {
        Box::new(std::io::BufWriter::new(file))
    };
    let defaults = Shape::default();
    let start_unix_nano = start_unix_nano.unwrap_or(defaults.start_unix_nano);
    let mut generator =
        ShapedGenerator::new(Shape { attributes_per_span: attributes, start_unix_nano, seed, ..defaults });
    out.write_all(b"{\"data\": [")?;
    let mut written = 0;
    let mut first = true;
    while written < spans {
        let (request, _) = generator.request(1000);
        written += request.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum::<usize>();
        for trace in semtrace_import::jaeger::from_otlp(&request.resource_spans) {
            if !first {
                out.write_all(b",\n")?;
            }
            first = false;
            serde_json::to_writer(&mut out, &trace)?;
        }
    }
    out.write_all(b"], \"total\": 0, \"limit\": 0, \"offset\": 0, \"errors\": null}\n")?;
    out.flush()?;
    drop(out);
    Ok(written)
}
