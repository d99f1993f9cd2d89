//! `semtrace-bench categories`: how often a failure is filed under the right error category, on
//! a labelled set of messages (JSON lines `{stack, message, category}`, `unknown` where none
//! fits): by signatures alone, and with the model for what no signature knows (the nearest labelled
//! example, else the nearest category words).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use semtrace_semantic::category::{
    examples, failed_span, failure_text, signature_category, CategoryPrototypes, EXAMPLE_VECTORS_PATH, UNKNOWN,
    ZERO_SHOT_FLOOR,
};

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
    /// Embed the labelled examples the model files failures by and write their vectors where
    /// the build takes them (crates/semantic/data/…), instead of measuring
    #[arg(long)]
    pub write_example_vectors: bool,
}

struct Labelled {
    stack: String,
    message: String,
    category: String,
}

pub async fn categories(args: CategoriesArgs) -> anyhow::Result<()> {
    if args.write_example_vectors {
        return write_example_vectors(&args).await;
    }
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

/// Writes the example vectors `CategoryPrototypes` ships for the default model.
async fn write_example_vectors(args: &CategoriesArgs) -> anyhow::Result<()> {
    let mut config = semtrace_server::config::Config::default();
    config.otel_storage.embedding_model = args.model.clone();
    config.semantic.models_dir = args.models_dir.clone();
    let embedder = semtrace_server::load_embedder(&config).await?;
    let texts: Vec<String> = examples().iter().map(|example| failure_text(&example.message)).collect();
    let vectors =
        tokio::task::spawn_blocking(move || embedder.embed(&texts.iter().map(String::as_str).collect::<Vec<_>>()))
            .await??;
    let bytes: Vec<u8> = vectors.iter().flatten().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(EXAMPLE_VECTORS_PATH, &bytes)
        .map_err(|err| anyhow::anyhow!("cannot write {EXAMPLE_VECTORS_PATH} (run from the repository): {err}"))?;
    println!("wrote {} vectors ({} bytes) to {EXAMPLE_VECTORS_PATH}", vectors.len(), bytes.len());
    Ok(())
}

fn report(args: &CategoriesArgs, labelled: &[Labelled], embedder: &semtrace_embed::Embedder) -> anyhow::Result<()> {
    // A labelled set's own messages are not examples for themselves.
    let own: HashSet<&str> = labelled.iter().map(|item| item.message.as_str()).collect();
    let prototypes = CategoryPrototypes::embed(embedder)?.without(&own);
    // What the pipeline sees: the span's summary; its failure sentence for the model.
    // Timed one by one: a failure's summary files it by signature, on the ingest path and for
    // every failed span a search or similar traces shows.
    let mut took = Vec::with_capacity(labelled.len());
    let summaries: Vec<_> = labelled
        .iter()
        .map(|item| {
            let span = failed_span(&item.message);
            let started = std::time::Instant::now();
            let summary = semtrace_summary::summarize(&span);
            took.push(started.elapsed());
            summary
        })
        .collect();
    took.sort();
    let signature: Vec<Option<&'static str>> =
        summaries.iter().map(|summary| signature_category(&summary.template)).collect();
    let failures: Vec<String> = labelled.iter().map(|item| failure_text(&item.message)).collect();
    let texts: Vec<&str> = failures.iter().map(String::as_str).collect();
    let vectors = embedder.embed(&texts)?;
    let mut floors = vec![ZERO_SHOT_FLOOR];
    floors.extend(args.floor.iter().copied().filter(|floor| *floor != ZERO_SHOT_FLOOR));
    println!(
        "== error categories: {} labelled messages from {} ({} labelled unknown); {} labelled examples (the set's own left out); machine: {} cores",
        labelled.len(),
        args.labelled.display(),
        labelled.iter().filter(|item| item.category == UNKNOWN).count(),
        prototypes.example_count(),
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
    println!("a failed span's summary (signatures included): {}", crate::ingest::percentiles(&took));
    let mut best = Vec::new();
    for floor in &floors {
        let guesses: Vec<&str> = signature
            .iter()
            .zip(&vectors)
            .map(|(guess, vector)| guess.or_else(|| Some(prototypes.classify(vector, *floor)?.0)).unwrap_or(UNKNOWN))
            .collect();
        let (accuracy, unknown) = judge(&guesses);
        let default = if *floor == ZERO_SHOT_FLOOR { " (the default)" } else { "" };
        println!("with the model, floor {floor:.2}: accuracy {accuracy:.3}, unknown {unknown:.3}{default}");
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
