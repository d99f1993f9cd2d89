//! `semtrace-bench categories`: how often a failure is filed under the right error category, on
//! a labelled set of messages (JSON lines `{stack, message, category}`, `unknown` where none
//! fits): by signatures alone, and with the model's zero-shot guess for what no signature knows.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use semtrace_model::{Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode, TraceId};
use semtrace_semantic::category::{signature_category, CategoryPrototypes, UNKNOWN, ZERO_SHOT_FLOOR};

#[derive(clap::Args)]
pub struct CategoriesArgs {
    /// The labelled messages.
    #[arg(long, default_value = "tests/categories/labelled.jsonl")]
    pub labelled: PathBuf,
    /// Zero-shot floors to report besides the default, e.g. `--floor 0.4 --floor 0.5`.
    #[arg(long)]
    pub floor: Vec<f32>,
    /// The model: a folder, or a name looked up in `--models-dir` and the Hugging Face cache.
    #[arg(long, default_value = "all-MiniLM-L6-v2")]
    pub model: String,
    #[arg(long, default_value = "models")]
    pub models_dir: PathBuf,
    /// Print every misfiled message.
    #[arg(long)]
    pub verbose: bool,
}

struct Labelled {
    stack: String,
    message: String,
    category: String,
}

/// A failed span that says only the message, as an SDK's status description would.
fn failed_span(message: &str) -> Span {
    Span {
        trace_id: TraceId::from_bytes([1; 16]).expect("a non-zero id"),
        span_id: SpanId::from_bytes([1; 8]).expect("a non-zero id"),
        parent_span_id: None,
        trace_state: String::new(),
        flags: 0,
        name: "operation".into(),
        kind: SpanKind::Internal,
        start_time_unix_nano: 1_000_000_000,
        end_time_unix_nano: 1_010_000_000,
        attributes: Default::default(),
        dropped_attributes_count: 0,
        events: Vec::new(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status: Status { code: StatusCode::Error, message: message.to_owned() },
        resource: Arc::new(Resource::default()),
        scope: Arc::new(Scope::default()),
    }
}

pub async fn categories(args: CategoriesArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.labelled)
        .map_err(|err| anyhow::anyhow!("cannot read {}: {err}", args.labelled.display()))?;
    let mut labelled = Vec::new();
    for (number, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|err| anyhow::anyhow!("line {}: {err}", number + 1))?;
        let field = |name: &str| value[name].as_str().map(str::to_owned);
        let (Some(stack), Some(message), Some(category)) = (field("stack"), field("message"), field("category")) else {
            anyhow::bail!("line {}: stack, message and category are required", number + 1);
        };
        labelled.push(Labelled { stack, message, category });
    }
    let mut config = semtrace_server::config::Config::default();
    config.otel_storage.embedding_model = args.model.clone();
    config.semantic.models_dir = args.models_dir.clone();
    let embedder = semtrace_server::load_embedder(&config).await?;
    tokio::task::spawn_blocking(move || report(&args, &labelled, &embedder)).await?
}

fn report(args: &CategoriesArgs, labelled: &[Labelled], embedder: &semtrace_embed::Embedder) -> anyhow::Result<()> {
    let prototypes = CategoryPrototypes::embed(embedder)?;
    // What the pipeline sees: the span's summary; its failure sentence for the model.
    let summaries: Vec<_> =
        labelled.iter().map(|item| semtrace_summary::summarize(&failed_span(&item.message))).collect();
    let signature: Vec<Option<&'static str>> =
        summaries.iter().map(|summary| signature_category(&summary.template)).collect();
    let failures: Vec<String> = summaries
        .iter()
        .zip(labelled)
        .map(|(summary, item)| {
            semtrace_summary::readable(summary.failure.as_deref().unwrap_or(&item.message)).into_owned()
        })
        .collect();
    let texts: Vec<&str> = failures.iter().map(String::as_str).collect();
    let vectors = embedder.embed(&texts)?;
    let mut floors = vec![ZERO_SHOT_FLOOR];
    floors.extend(args.floor.iter().copied().filter(|floor| *floor != ZERO_SHOT_FLOOR));
    println!(
        "== error categories: {} labelled messages from {} ({} labelled unknown); machine: {} cores",
        labelled.len(),
        args.labelled.display(),
        labelled.iter().filter(|item| item.category == UNKNOWN).count(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let judge = |guesses: &[&str]| {
        let right = guesses.iter().zip(labelled).filter(|(guess, item)| **guess == item.category).count();
        let unknown = guesses.iter().filter(|guess| **guess == UNKNOWN).count();
        (right as f64 / labelled.len() as f64, unknown as f64 / labelled.len() as f64)
    };
    let by_signature: Vec<&str> = signature.iter().map(|guess| guess.unwrap_or(UNKNOWN)).collect();
    let (accuracy, unknown) = judge(&by_signature);
    println!("signatures alone:            accuracy {accuracy:.3}, unknown {unknown:.3}");
    let mut best = Vec::new();
    for floor in &floors {
        let guesses: Vec<&str> = signature
            .iter()
            .zip(&vectors)
            .map(|(guess, vector)| guess.or_else(|| Some(prototypes.classify(vector, *floor)?.0)).unwrap_or(UNKNOWN))
            .collect();
        let (accuracy, unknown) = judge(&guesses);
        let default = if *floor == ZERO_SHOT_FLOOR { " (the default)" } else { "" };
        println!("with zero-shot, floor {floor:.2}: accuracy {accuracy:.3}, unknown {unknown:.3}{default}");
        if *floor == ZERO_SHOT_FLOOR {
            best = guesses;
        }
    }
    // Per stack, and the most frequent confusions, at the default floor.
    let mut stacks: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut confusions: HashMap<(&str, &str), usize> = HashMap::new();
    for (guess, item) in best.iter().zip(labelled) {
        let entry = stacks.entry(item.stack.as_str()).or_default();
        entry.1 += 1;
        if *guess == item.category {
            entry.0 += 1;
        } else {
            *confusions.entry((item.category.as_str(), guess)).or_default() += 1;
            if args.verbose {
                println!(
                    "  {:>8} {:?}\n           labelled {:?}, filed as {:?}",
                    item.stack, item.message, item.category, guess
                );
            }
        }
    }
    let per_stack: Vec<String> =
        stacks.iter().map(|(stack, (right, all))| format!("{stack} {:.2}", *right as f64 / *all as f64)).collect();
    println!("per stack: {}", per_stack.join(", "));
    let mut confusions: Vec<_> = confusions.into_iter().collect();
    confusions.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    println!("most frequent confusions (labelled → filed as):");
    for ((labelled, guess), count) in confusions.iter().take(12) {
        println!("  {count:>3}  {labelled} → {guess}");
    }
    Ok(())
}
