//! `semtrace-bench`: semtrace's benchmark harness, a binary of its own so that the server links
//! none of its load generator, OTLP client, labelled corpus or raw SQL. `semtrace bench …` runs
//! it when it is installed beside `semtrace` (as `cargo build --release` leaves it).

use std::path::PathBuf;
use std::sync::OnceLock;

use clap::{Parser, Subcommand};

mod ann;
mod categories;
mod import;
mod ingest;
mod jaeger;
mod peer;
mod search;
mod similar;

#[derive(Parser)]
#[command(name = "semtrace-bench", version, about = "semtrace's benchmarks: they print medians and percentiles.")]
struct Cli {
    /// The `semtrace` binary that `--spawn-data-dir` starts [default: `semtrace` beside this
    /// binary, else on PATH].
    #[arg(long, global = true)]
    server_bin: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load a server with realistic OTLP traffic; report spans/s, latencies, peak RSS, trace-by-id latency.
    Ingest(ingest::IngestArgs),
    /// Search quality on the labelled fault corpus: P@10 and MRR per query for semantic, hybrid,
    /// the seeds' keyword search and full-text error search.
    Quality(search::QualityArgs),
    /// Similar traces on a labelled corpus: the share of results with the same fault, per fault
    /// kind, and request latency.
    Similar(similar::SimilarArgs),
    /// Search latency percentiles on a loaded server (uncached and cached query embeddings).
    Search(search::SearchArgs),
    /// Query embedding latency alone, on the small encoder and on candle's model.
    Embed(search::EmbedArgs),
    /// The seeds' PostgreSQL design (an embedding per span row, one INSERT per span, IVFFlat)
    /// against semtrace's (templates, COPY) on one PostgreSQL: ingest, index build, size, and the
    /// seeds' four query types.
    Peer(peer::PeerArgs),
    /// Jaeger trace search latency (service + tag + minimum duration, as Grafana sends it) on a
    /// loaded server.
    Jaeger(jaeger::JaegerArgs),
    /// Error category accuracy on labelled messages: signatures alone, and with the model (the
    /// nearest labelled example, else the nearest category words).
    Categories(categories::CategoriesArgs),
    /// `semtrace import` of a large Jaeger JSON file into a fresh server: spans/s and the
    /// importer's peak memory.
    Import(import::ImportArgs),
    /// pgvector's HNSW index over template vectors against the exact in-memory scan: build time,
    /// recall@10 and latency per `hnsw.ef_search`, at several template counts.
    Ann(ann::AnnArgs),
}

static SERVER_BIN: OnceLock<PathBuf> = OnceLock::new();

/// The `semtrace` binary to spawn: `--server-bin`, else the one beside this binary, else PATH's.
pub(crate) fn server_bin() -> PathBuf {
    SERVER_BIN
        .get_or_init(|| {
            let name = format!("semtrace{}", std::env::consts::EXE_SUFFIX);
            std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(|dir| dir.join(&name)))
                .filter(|path| path.is_file())
                .unwrap_or_else(|| PathBuf::from(name))
        })
        .clone()
}

fn main() -> std::process::ExitCode {
    semtrace_server::init_process();
    let cli = Cli::parse();
    if let Some(path) = cli.server_bin.clone() {
        let _ = SERVER_BIN.set(path);
    }
    semtrace_server::run_to_exit(async {
        match cli.command {
            Command::Ingest(args) => ingest::ingest(args).await,
            Command::Quality(args) => search::quality(args).await,
            Command::Import(args) => import::import(args).await,
            Command::Ann(args) => ann::ann(args).await,
            Command::Similar(args) => similar::similar(args).await,
            Command::Search(args) => search::search(args).await,
            Command::Embed(args) => search::embed(args).await,
            Command::Peer(args) => peer::peer(args).await,
            Command::Jaeger(args) => jaeger::jaeger(args).await,
            Command::Categories(args) => categories::categories(args).await,
        }
    })
}
