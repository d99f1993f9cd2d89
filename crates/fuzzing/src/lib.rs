//! What the `cargo fuzz` targets in `fuzz/` run. They live here, in the workspace, so that
//! `tests/regressions.rs` replays every input the fuzzer ever found failing (kept in
//! `fuzz/regressions/<target>/`) on every test run, on stable Rust.
//!
//! Each function takes arbitrary bytes and must not panic; a property that does not hold
//! (a round trip that changes the data, a store error for a user's query) panics on purpose.

use std::sync::OnceLock;

use semtrace_pipeline::Batch;
use semtrace_query::{parse_errors, parse_search};
use semtrace_receiver::{decode_export, decode_logs_export, ReceiverLimits};
use semtrace_store::{SpanFilter, Store, StoreError};
use semtrace_store_sqlite::{SqliteOptions, SqliteStore};

/// `POST /v1/traces` with a protobuf body; the first byte says whether the rest is gzip (bit 0)
/// and whether it is a `POST /v1/logs` body instead (bit 1).
pub fn otlp_protobuf(data: &[u8]) {
    export_body(data, false);
}

/// `POST /v1/traces` with a JSON body; the first byte as for [`otlp_protobuf`].
pub fn otlp_json(data: &[u8]) {
    export_body(data, true);
}

fn export_body(data: &[u8], json: bool) {
    let Some((flags, body)) = data.split_first() else { return };
    // Small limits, so the fuzzer also meets them (and a bomb costs it little).
    let limits = ReceiverLimits {
        max_decompressed_bytes: 1 << 20,
        max_spans_per_request: 1000,
        max_attributes_per_span: 32,
        max_attribute_value_bytes: 256,
        ..ReceiverLimits::default()
    };
    let (gzip, logs) = (flags & 1 == 1, flags & 2 == 2);
    let batch = if logs {
        // `POST /v1/logs`: what the stores and the joiner do with every accepted record.
        let Ok(converted) = decode_logs_export(body, json, gzip, &limits) else { return };
        let _ = converted.rejection_message();
        for record in &converted.accepted {
            let _ = semtrace_summary::log_is_severe(record);
        }
        let _ = semtrace_store::row::encode_logs(&converted.accepted);
        Batch { spans: Vec::new(), logs: converted.accepted }
    } else {
        let Ok(converted) = decode_export(body, json, gzip, &limits) else { return };
        let _ = converted.rejection_message();
        // What the stores do with every accepted span: summary, template, rows.
        for span in &converted.accepted {
            let summary = semtrace_summary::summarize(span);
            assert!(!summary.text.is_empty(), "an empty summary for {span:?}");
        }
        let _ = semtrace_store::row::encode_batch(
            &converted.accepted,
            &semtrace_store::row::EncodeOptions { entities: true, ..Default::default() },
        );
        Batch::of_spans(converted.accepted)
    };
    // The spool gives back what it took (compared re-encoded: NaN attributes are unequal to themselves).
    let record = semtrace_pipeline::spool::encode(&batch);
    let decoded = semtrace_pipeline::spool::decode(&record).expect("a spool record decodes");
    assert_eq!(decoded.len(), batch.len());
    assert!(semtrace_pipeline::spool::encode(&decoded) == record, "the spool changed the spans");
}

/// The query strings of `GET /api/v1/search` and `GET /api/v1/errors`, parsed as the API does;
/// those that parse are run against a small embedded store, which must answer every one
/// (a syntax error from user words reaching FTS5 would be a bug).
pub fn search_params(data: &[u8]) {
    let Ok(query_string) = std::str::from_utf8(data) else { return };
    let (runtime, store) = store();
    if let Ok(request) = parse_search(query_string, 0.15) {
        let matched = runtime.block_on(store.match_templates(&request.query, 20));
        answered(query_string, matched);
        let found = runtime.block_on(store.spans_of_templates(
            &[1, 2, 3],
            &request.filter,
            request.limit,
            semtrace_store::policy::PerTrace::OneSpan,
        ));
        answered(query_string, found);
    }
    if let Ok(request) = parse_errors(query_string) {
        let found = runtime.block_on(store.search_errors(&request.query, &request.filter, request.limit));
        answered(query_string, found);
    }
}

fn answered<T>(query_string: &str, result: Result<T, StoreError>) {
    if let Err(err) = result {
        panic!("the store failed on {query_string:?}: {err}");
    }
}

/// One store per process, holding the conformance suite's traces (errors included).
fn store() -> &'static (tokio::runtime::Runtime, SqliteStore) {
    static STORE: OnceLock<(tokio::runtime::Runtime, SqliteStore)> = OnceLock::new();
    STORE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let dir = tempfile::tempdir().expect("a temporary directory").keep();
        let store = SqliteStore::open(SqliteOptions::new(&dir)).expect("the store opens");
        runtime.block_on(async {
            for n in 0..20 {
                store.write(&semtrace_store::conformance::rich_trace(n)).await.expect("written");
            }
            let _ = store.search_errors("", &SpanFilter::default(), 1).await;
        });
        (runtime, store)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seeds are valid requests, so the fuzzer starts from inputs that reach every stage.
    #[test]
    fn the_seeds_decode_into_spans() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
        for (file, json) in [
            ("otlp_protobuf/seed-valid.bin", false),
            ("otlp_protobuf/seed-valid-gzip.bin", false),
            ("otlp_json/seed-valid.json", true),
        ] {
            let data = std::fs::read(dir.join(file)).unwrap();
            let converted = decode_export(&data[1..], json, data[0] & 1 == 1, &ReceiverLimits::default())
                .unwrap_or_else(|err| panic!("{file}: {err}"));
            assert_eq!((converted.accepted.len(), converted.rejected), (1, 0), "{file}");
            assert_eq!(converted.accepted[0].events.len(), 1, "{file}");
        }
        let seed = std::fs::read_to_string(dir.join("search_params/seed-search.txt")).unwrap();
        let request = parse_search(&seed, 0.15).unwrap();
        assert_eq!(request.query, "database connection timeout");
    }
}
