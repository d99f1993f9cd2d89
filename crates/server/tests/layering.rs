//! The workspace's layering, read from the crates' manifests (`cargo metadata`), so that
//! ARCHITECTURE.md's boundaries stay true as crates gain dependencies:
//! - nothing above `crates/store` knows SQL: only the two store backends (and the bench and the
//!   test kit) depend on a database client;
//! - OTLP types stop at the edges: only `crates/receiver` (OTLP in), `crates/import` (files
//!   read into OTLP requests, sent to a server), `crates/exporter` (an SDK's spans out), the
//!   bench and the test kit depend on
//!   `opentelemetry-proto` or `prost`;
//! - the production binary links neither the bench nor the test kit;
//! - every declared dependency is used (what `cargo machete` checks: a crate whose name appears
//!   nowhere in the sources that may use it is declared for nothing). Done here rather than by
//!   installing `cargo-machete`, which a fresh machine would build on every test run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

struct Dependency {
    /// As the code names it (`-` read as `_`, renames applied).
    name: String,
    /// As the manifest names it.
    package: String,
    /// `normal`, `dev` or `build`.
    kind: String,
}

struct Package {
    name: String,
    dir: PathBuf,
    dependencies: Vec<Dependency>,
}

fn workspace() -> Vec<Package> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let packages = metadata["packages"].as_array().expect("packages");
    packages
        .iter()
        .map(|package| {
            let manifest = Path::new(package["manifest_path"].as_str().expect("manifest_path"));
            let dependencies = package["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .map(|dependency| {
                    let package = dependency["name"].as_str().expect("name").to_owned();
                    let name = dependency["rename"].as_str().unwrap_or(&package).replace('-', "_");
                    let kind = dependency["kind"].as_str().unwrap_or("normal").to_owned();
                    Dependency { name, package, kind }
                })
                .collect();
            Package {
                name: package["name"].as_str().expect("name").to_owned(),
                dir: manifest.parent().expect("a manifest's folder").to_owned(),
                dependencies,
            }
        })
        .collect()
}

fn normal_dependencies(package: &Package) -> impl Iterator<Item = &str> {
    package.dependencies.iter().filter(|dependency| dependency.kind == "normal").map(|d| d.package.as_str())
}

/// Packages that may depend on `crates`, and the packages that do.
fn only_in(packages: &[Package], crates: &[&str], allowed: &[&str]) -> Vec<String> {
    let mut wrong = Vec::new();
    for package in packages {
        for dependency in normal_dependencies(package) {
            if crates.contains(&dependency) && !allowed.contains(&package.name.as_str()) {
                wrong.push(format!("{} depends on {dependency}", package.name));
            }
        }
    }
    wrong
}

#[test]
fn nothing_above_the_store_knows_sql() {
    let wrong = only_in(
        &workspace(),
        &["rusqlite", "tokio-postgres", "deadpool-postgres", "pgvector", "postgres"],
        &["semtrace-store-sqlite", "semtrace-store-postgres", "semtrace-bench", "semtrace-testkit"],
    );
    assert!(wrong.is_empty(), "only the store backends speak SQL (ARCHITECTURE.md): {wrong:?}");
}

#[test]
fn otlp_types_stop_at_the_receiver() {
    let wrong = only_in(
        &workspace(),
        &["opentelemetry-proto", "prost"],
        &["semtrace-receiver", "semtrace-import", "semtrace-exporter", "semtrace-bench", "semtrace-testkit"],
    );
    assert!(wrong.is_empty(), "OTLP types stop at crates/receiver (ARCHITECTURE.md): {wrong:?}");
}

#[test]
fn the_server_links_neither_the_bench_nor_the_test_kit() {
    let packages = workspace();
    let by_name: BTreeMap<&str, &Package> = packages.iter().map(|package| (package.name.as_str(), package)).collect();
    // Workspace crates the server links, through normal dependencies.
    let mut linked = BTreeSet::new();
    let mut stack = vec!["semtrace-server"];
    while let Some(name) = stack.pop() {
        if !linked.insert(name) {
            continue;
        }
        if let Some(package) = by_name.get(name) {
            stack.extend(normal_dependencies(package).filter(|dependency| by_name.contains_key(dependency)));
        }
    }
    for test_only in ["semtrace-bench", "semtrace-testkit", "semtrace-fuzzing"] {
        assert!(!linked.contains(test_only), "the production server links {test_only}: {linked:?}");
    }
    // And no client or raw SQL of its own.
    let server = by_name["semtrace-server"];
    for client in ["opentelemetry-proto", "prost", "flate2", "tokio-postgres", "pgvector", "rusqlite"] {
        assert!(
            normal_dependencies(server).all(|dependency| dependency != client),
            "semtrace-server depends on {client} itself"
        );
    }
}

/// Every `.rs` file's text under `dir`, concatenated.
fn sources(dir: &Path) -> String {
    let mut text = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return text };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            text.push_str(&sources(&path));
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            text.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
            text.push('\n');
        }
    }
    text
}

/// Whether `code` names the crate `name` as code does: a path, a `use`, a macro, an attribute.
fn names_crate(code: &str, name: &str) -> bool {
    let bytes = code.as_bytes();
    code.match_indices(name).any(|(at, _)| {
        let before_ok = at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
        let rest = &code[at + name.len()..];
        let after_ok = rest.starts_with("::") || rest.starts_with('!') || rest.starts_with(';');
        let used = code[..at].trim_end().ends_with("use") || code[..at].trim_end().ends_with("crate");
        before_ok && (after_ok || (used && rest.starts_with(|c: char| !c.is_alphanumeric() && c != '_')))
    })
}

#[test]
fn every_declared_dependency_is_used() {
    let mut unused = Vec::new();
    for package in workspace() {
        let library = sources(&package.dir.join("src"));
        let mut tests = library.clone();
        for dir in ["tests", "benches", "examples"] {
            tests.push_str(&sources(&package.dir.join(dir)));
        }
        let build = std::fs::read_to_string(package.dir.join("build.rs")).unwrap_or_default();
        for dependency in &package.dependencies {
            let code = match dependency.kind.as_str() {
                "normal" => &library,
                "dev" => &tests,
                _ => &build,
            };
            if !names_crate(code, &dependency.name) {
                unused.push(format!("{}: {} ({})", package.name, dependency.package, dependency.kind));
            }
        }
    }
    assert!(unused.is_empty(), "declared but not used; remove them from Cargo.toml: {unused:#?}");
}

#[test]
fn the_crate_name_check_tells_use_from_mention() {
    assert!(names_crate("use serde::Deserialize;", "serde"));
    assert!(names_crate("let x = serde_json::to_string(&y);", "serde_json"));
    assert!(names_crate("tracing::warn!(\"x\");", "tracing"));
    assert!(names_crate("use mimalloc;", "mimalloc"));
    assert!(!names_crate("let x = serde_json::to_string(&y);", "serde"));
    assert!(!names_crate("/// pgvector index over template embeddings", "pgvector"));
    assert!(!names_crate("max_body_bytes", "bytes"));
}

#[test]
fn every_version_is_set_in_the_workspace() {
    let mut local = Vec::new();
    for package in workspace() {
        let manifest = std::fs::read_to_string(package.dir.join("Cargo.toml")).expect("a readable manifest");
        let mut section = "";
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line;
            } else if section.ends_with("dependencies]") && line.contains('=') && !line.starts_with('#') {
                let (name, _) = line.split_once('=').expect("contains =");
                if !name.trim().ends_with(".workspace") && !line.contains("workspace = true") {
                    local.push(format!("{}: {line}", package.name));
                }
            }
        }
    }
    assert!(local.is_empty(), "set these versions in the root Cargo.toml's [workspace.dependencies]: {local:#?}");
}
