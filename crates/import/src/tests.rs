use std::io::Write;

use super::*;

/// Reads `bytes` with batches of `batch` spans: the batches' span counts, the rejects, the report.
fn read_all(bytes: &[u8], batch: usize) -> (Vec<ExportTraceServiceRequest>, Vec<(String, String)>, FileReport) {
    let mut batches = Vec::new();
    let mut rejects = Vec::new();
    let report = read(bytes, batch, &mut |item| {
        match item {
            Item::Batch { request, spans } => {
                assert_eq!(spans, request.resource_spans.iter().map(count_spans).sum::<usize>());
                assert!(spans <= batch);
                batches.push(request);
            }
            Item::Rejected { origin, reason, .. } => rejects.push((origin, reason)),
        }
        true
    })
    .map_err(|(_, err)| err.to_string())
    .expect("read");
    (batches, rejects, report)
}

fn spans_in(batches: &[ExportTraceServiceRequest]) -> usize {
    batches.iter().flat_map(|request| &request.resource_spans).map(count_spans).sum()
}

fn jaeger_trace(trace: usize, spans: usize) -> serde_json::Value {
    let spans: Vec<_> = (1..=spans)
        .map(|span| {
            serde_json::json!({"traceID": format!("{trace:x}"), "spanID": format!("{span:x}"), "operationName": "op",
                "startTime": 1_700_000_000_000_000u64, "duration": 10, "processID": "p1",
                "references": if span > 1 { serde_json::json!([{"refType": "CHILD_OF", "traceID": format!("{trace:x}"), "spanID": "1"}]) } else { serde_json::json!([]) }})
        })
        .collect();
    serde_json::json!({"traceID": format!("{trace:x}"), "spans": spans, "processes": {"p1": {"serviceName": "svc"}}})
}

#[test]
fn the_query_apis_answer_streams_in_batches() {
    let traces: Vec<_> = (1..=7).map(|trace| jaeger_trace(trace, 3)).collect();
    let body = serde_json::json!({"data": traces, "total": 0, "limit": 0, "offset": 0, "errors": null});
    let (batches, rejects, report) = read_all(body.to_string().as_bytes(), 5);
    assert!(rejects.is_empty(), "{rejects:?}");
    assert_eq!(spans_in(&batches), 21);
    assert_eq!(report.spans, 21);
    assert_eq!(batches.len(), 5, "21 spans in batches of 5");
    assert_eq!(report.dialects, ["Jaeger JSON"]);
}

#[test]
fn every_jaeger_shape_is_read() {
    // A bare trace, the UI's store (`data` an object), an array of spans with inline processes.
    let bare = jaeger_trace(1, 2);
    let store = serde_json::json!({"data": jaeger_trace(2, 2), "id": "2", "state": "FETCH_DONE"});
    let loose = serde_json::json!([
        {"traceID": "3", "spanID": "1", "operationName": "a", "startTime": 1, "duration": 1, "process": {"serviceName": "x", "tags": []}},
        {"traceID": "3", "spanID": "2", "operationName": "b", "startTime": 1, "duration": 1, "process": {"serviceName": "y", "tags": []}}
    ]);
    for (shape, expected) in [(bare, 2), (store, 2), (loose, 2)] {
        let (batches, rejects, _) = read_all(shape.to_string().as_bytes(), 100);
        assert!(rejects.is_empty(), "{rejects:?}");
        assert_eq!(spans_in(&batches), expected, "{shape}");
    }
}

#[test]
fn otlp_json_documents_and_lines() {
    let line = |span: u8| {
        format!(
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"svc"}}}}]}},"scopeSpans":[{{"spans":[{{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B17{span}","name":"op","startTimeUnixNano":1544712660000000000,"endTimeUnixNano":"1544712661000000000","kind":2}}]}}]}}]}}"#
        )
    };
    let lines = format!("{}\n{}\n{}\n", line(1), line(2), line(3));
    let (batches, rejects, report) = read_all(lines.as_bytes(), 2);
    assert!(rejects.is_empty(), "{rejects:?}");
    assert_eq!(spans_in(&batches), 3);
    assert_eq!(report.dialects, ["OTLP JSON"]);
    let span = &batches[0].resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(span.trace_id[0], 0x5b, "upper-case hex ids");
    assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000, "times as numbers or strings");

    // A resource that is not OTLP is reported; the others are kept.
    let bad = r#"{"resourceSpans":[{"scopeSpans":"nope"},{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"x"}]}]}]}"#;
    let (batches, rejects, _) = read_all(bad.as_bytes(), 10);
    assert_eq!(spans_in(&batches), 1);
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].0, "document 1 resource 1");
}

#[test]
fn protobuf_compressed_and_malformed_input() {
    let (json_batches, ..) = read_all(serde_json::json!({"data": [jaeger_trace(9, 4)]}).to_string().as_bytes(), 100);
    let request = json_batches[0].clone();
    // One request as it is, and the file exporter's length-prefixed stream of two.
    let single = request.encode_to_vec();
    let (batches, _, report) = read_all(&single, 100);
    assert_eq!((spans_in(&batches), report.format), (4, Some(Format::OtlpProtobuf)));
    let mut stream = Vec::new();
    for _ in 0..2 {
        stream.extend_from_slice(&(single.len() as u32).to_be_bytes());
        stream.extend_from_slice(&single);
    }
    let (batches, _, report) = read_all(&stream, 100);
    assert_eq!((spans_in(&batches), report.format), (8, Some(Format::OtlpProtobufStream)));

    // gzip and zstd, told by their first bytes.
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(&stream).unwrap();
    let (batches, _, report) = read_all(&gzip.finish().unwrap(), 100);
    assert_eq!((spans_in(&batches), report.compression), (8, Some("gzip")));
    let zstd = ruzstd::encoding::compress_to_vec(stream.as_slice(), ruzstd::encoding::CompressionLevel::Fastest);
    let (batches, _, report) = read_all(&zstd, 100);
    assert_eq!((spans_in(&batches), report.compression), (8, Some("zstd")));

    // Malformed JSON: what came before is kept, and the error says where.
    let text = format!("{}\n{{\"resourceSpans\": [", serde_json::json!({"data": [jaeger_trace(1, 2)]}));
    let mut kept = 0;
    let err = read(text.as_bytes(), 100, &mut |item| {
        if let Item::Batch { spans, .. } = item {
            kept += spans;
        }
        true
    })
    .unwrap_err();
    assert_eq!(kept, 2);
    assert!(err.1.to_string().contains("document 2") && err.1.to_string().contains("line 2"), "{}", err.1);
}

#[test]
fn what_is_not_trace_data_says_so_without_reading_it_whole() {
    let err = |bytes: &[u8]| read(bytes, 100, &mut |_| true).unwrap_err().1.to_string();
    // Random bytes read as a length-prefixed stream announce gigabytes: refused, not allocated.
    let garbage: Vec<u8> = (0..4096u32).map(|n| (n.wrapping_mul(2_654_435_761) >> 13) as u8 | 0x80).collect();
    assert!(err(&garbage).contains("not a trace file"), "{}", err(&garbage));
    assert!(err(&[0, 0, 0, 200, 1, 2]).contains("200 bytes announced, 2 left"), "{}", err(&[0, 0, 0, 200, 1, 2]));
    assert!(err(b"").contains("empty"));
    assert!(err(b"  {\"foo\": 1}").contains("no Jaeger or OTLP trace data"));
    // An empty answer is not an error: it holds no traces.
    let (batches, rejects, _) = read_all(br#"{"data": [], "total": 0}"#, 10);
    assert!(batches.is_empty() && rejects.is_empty());
}
