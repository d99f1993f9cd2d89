//! Every input kept in `fuzz/regressions/<target>/` (crashes the fuzzer found, after the fix,
//! and the seeds) is replayed through its target.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions").join(target);
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        eprintln!("replaying {}", path.display());
        run(&data);
        replayed += 1;
    }
    assert!(replayed > 0, "no inputs in {}", dir.display());
}

#[test]
fn otlp_protobuf() {
    replay("otlp_protobuf", semtrace_fuzzing::otlp_protobuf);
}

#[test]
fn otlp_json() {
    replay("otlp_json", semtrace_fuzzing::otlp_json);
}

#[test]
fn search_params() {
    replay("search_params", semtrace_fuzzing::search_params);
}
