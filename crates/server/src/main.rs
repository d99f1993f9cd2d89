//! `semtrace`: an OpenTelemetry trace store you can search by meaning.

use std::path::PathBuf;

/// mimalloc: measured faster than glibc malloc on the ingest path, which allocates per span.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use semtrace_server::client::{self, DEFAULT_SERVER};
use semtrace_server::config::{Config, Overrides};

#[derive(Parser)]
#[command(name = "semtrace", version, about = "An OpenTelemetry trace store you can search by meaning.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Receive OTLP traces (gRPC :4317, HTTP :4318), store them, and serve the query API (:16686).
    Serve(ServeArgs),
    /// Print the configuration that `serve` would use (all layers applied), as YAML.
    Config(ConfigArgs),
    /// Show a stored trace as an indented span tree with timings.
    Trace {
        /// Trace id: 32 hex digits.
        trace_id: String,
        /// Print the API's JSON instead of the tree.
        #[arg(long)]
        json: bool,
        /// Query API of the server.
        #[arg(long, default_value = DEFAULT_SERVER)]
        server: String,
    },
    /// Search stored spans by meaning, e.g. `semtrace search "database connection timeouts"`.
    Search(client::SearchCommand),
    /// Traces like a given one: the same failure, the same slowness, or the same shape, with why.
    Similar(client::SimilarCommand),
    /// Compare two traces span by span: matched spans and their duration differences, spans
    /// only one of them has.
    Compare {
        /// Trace ids: 32 hex digits each.
        a: String,
        b: String,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
        /// Query API of the server.
        #[arg(long, default_value = DEFAULT_SERVER)]
        server: String,
    },
    /// Import trace files (Jaeger JSON, OTLP JSON or JSON lines, OTLP protobuf; gzip or zstd)
    /// into a running server, over OTLP/HTTP: `semtrace import traces.json.gz`.
    Import(semtrace_import::command::ImportCommand),
    /// Export traces (a search's, or a time range's) as OTLP JSON lines (re-importable) or
    /// Jaeger JSON: `semtrace export --query "payment declined" -o declined.jsonl`.
    Export(semtrace_import::export::ExportCommand),
    /// Show the server's health: store, counts, queue.
    Health {
        #[arg(long, default_value = DEFAULT_SERVER)]
        server: String,
    },
    /// Benchmarks (runs `semtrace-bench`, built beside this binary by `cargo build --release`):
    /// `semtrace bench ingest|quality|similar|search|embed|peer --help`.
    #[command(disable_help_flag = true)]
    Bench {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// The store's schema.
    #[command(subcommand)]
    Db(DbCommand),
    /// Make a bearer token: prints the token (for the client) and the entry to add to
    /// `auth.tokens` (its SHA-256; semtrace never stores the token itself).
    Token {
        /// `ingest` (OTLP), `read` (query API, UI, Jaeger API) or `admin` (everything, /metrics).
        #[arg(long)]
        role: String,
        /// The tenant its requests act for; `*`: the one each request names in X-Scope-OrgID.
        #[arg(long, default_value = semtrace_auth::DEFAULT_TENANT)]
        tenant: String,
        /// Names the token in logs and errors [default: the role and tenant].
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Create or migrate the configured store's schema and exit (with `storage: postgres`: checks
    /// the connection and pgvector, creates the extension, tables and indexes).
    Init(ConfigArgs),
}

#[derive(clap::Args)]
struct ConfigArgs {
    /// YAML configuration file; `local.yaml` beside it is applied on top.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Directory of the embedded store [default: ./data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// OTLP/gRPC listen address [default: 127.0.0.1:4317].
    #[arg(long)]
    otlp_grpc_addr: Option<String>,
    /// OTLP/HTTP listen address [default: 127.0.0.1:4318].
    #[arg(long)]
    otlp_http_addr: Option<String>,
    /// Query API listen address [default: 127.0.0.1:16686].
    #[arg(long)]
    http_addr: Option<String>,
    /// Serve addresses beyond loopback without authentication (server.insecure): anyone who
    /// reaches them can send and read traces.
    #[arg(long)]
    insecure: bool,
}

type ServeArgs = ConfigArgs;

impl ConfigArgs {
    fn load(&self) -> anyhow::Result<Config> {
        let overrides = Overrides {
            data_dir: self.data_dir.clone(),
            otlp_grpc_addr: self.otlp_grpc_addr.clone(),
            otlp_http_addr: self.otlp_http_addr.clone(),
            http_addr: self.http_addr.clone(),
            insecure: self.insecure,
        };
        Config::load(self.config.as_deref(), std::env::vars(), &overrides)
    }
}

fn main() -> std::process::ExitCode {
    semtrace_server::init_process();
    let cli = Cli::parse();
    semtrace_server::run_to_exit(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let config = args.load()?;
            let server = semtrace_server::start(&config).await?;
            server.run_until_signal().await
        }
        Command::Config(args) => {
            let config = args.load()?;
            for notice in &config.notices {
                eprintln!("note: {notice}");
            }
            print!("{}", serde_saphyr::to_string(&config)?);
            Ok(())
        }
        Command::Trace { trace_id, json, server } => client::trace(&server, &trace_id, json).await,
        Command::Health { server } => client::health(&server).await,
        Command::Import(args) => semtrace_import::command::import(args).await,
        Command::Export(args) => semtrace_import::export::export(args).await,
        Command::Bench { args } => bench(args),
        Command::Search(args) => client::search(args).await,
        Command::Similar(args) => client::similar(args).await,
        Command::Compare { a, b, json, server } => client::compare(&server, &a, &b, json).await,
        Command::Token { role, tenant, name } => token(&role, &tenant, name),
        Command::Db(DbCommand::Init(args)) => {
            let config = args.load()?;
            let store = semtrace_server::open_store(&config).await?;
            let stats = store.stats().await?;
            println!(
                "{} store ready: schema up to date, {} spans, {} traces, {} templates",
                store.backend(),
                stats.total_spans,
                stats.total_traces,
                stats.templates
            );
            Ok(())
        }
    }
}

/// `semtrace token`: a new token and the config entry of its digest.
fn token(role: &str, tenant: &str, name: Option<String>) -> anyhow::Result<()> {
    let role: semtrace_auth::Role = serde_json::from_value(serde_json::Value::String(role.to_owned()))
        .map_err(|_| anyhow::anyhow!("--role {role}: expected ingest, read or admin"))?;
    if tenant != semtrace_auth::ANY_TENANT {
        semtrace_auth::check_tenant(tenant).map_err(|reason| anyhow::anyhow!("--tenant: {reason}"))?;
    }
    let name = name.unwrap_or_else(|| format!("{}-{}", role.as_str(), if tenant == "*" { "any" } else { tenant }));
    let (token, sha256) = semtrace_auth::new_token();
    let entry = semtrace_auth::TokenEntry { name, sha256, role, tenant: tenant.to_owned() };
    eprintln!(
        "token (give it to the client, e.g. SEMTRACE_TOKEN or `Authorization: Bearer …`; it is not shown again):"
    );
    println!("{token}");
    eprintln!("\nadd to the configuration, under auth.tokens (semtrace keeps only the digest):");
    eprint!("{}", serde_saphyr::to_string(&vec![entry])?);
    Ok(())
}

/// Runs `semtrace-bench` (beside this binary, else on PATH) with `args`, and returns its status.
fn bench(args: Vec<std::ffi::OsString>) -> anyhow::Result<()> {
    use anyhow::Context;
    let exe = std::env::current_exe().context("cannot tell where this binary is")?;
    let name = format!("semtrace-bench{}", std::env::consts::EXE_SUFFIX);
    let beside = exe.parent().map(|dir| dir.join(&name)).filter(|path| path.is_file());
    let bench = beside.unwrap_or_else(|| PathBuf::from(&name));
    let status =
        std::process::Command::new(&bench).arg("--server-bin").arg(&exe).args(args).status().with_context(|| {
            format!(
                "cannot run {}: the benchmarks are a binary of their own; build it with \
                 `cargo build --release -p semtrace-bench`",
                bench.display()
            )
        })?;
    if status.success() {
        Ok(())
    } else {
        anyhow::bail!("{} exited with {status}", bench.display())
    }
}
