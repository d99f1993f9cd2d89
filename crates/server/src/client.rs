//! The command-line client side: `semtrace trace` and `semtrace health` against a running server.

use std::collections::HashMap;
use std::fmt::Write as _;

use anyhow::{bail, Context};
use serde_json::Value;

/// The query API a client talks to when `--server` is not given.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:16686";

/// The environment variable whose token the client sends (`Authorization: Bearer …`).
pub const TOKEN_ENV: &str = "SEMTRACE_TOKEN";

async fn get_json(server: &str, path: &str) -> anyhow::Result<(reqwest::StatusCode, Value)> {
    let url = format!("{}{path}", server.trim_end_matches('/'));
    let mut request = reqwest::Client::new().get(&url);
    if let Some(token) = std::env::var(TOKEN_ENV).ok().filter(|token| !token.is_empty()) {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.with_context(|| {
        format!("cannot reach semtrace at {server}: is `semtrace serve` running? (pass --server URL)")
    })?;
    let status = response.status();
    let body: Value = response.json().await.with_context(|| format!("{url} did not answer with JSON"))?;
    Ok((status, body))
}

pub async fn trace(server: &str, trace_id: &str, json: bool) -> anyhow::Result<()> {
    let (status, body) = get_json(server, &format!("/api/v1/traces/{trace_id}")).await?;
    if !status.is_success() {
        bail!("{}", body["error"].as_str().unwrap_or("the server refused the request"));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        print!("{}", render_trace_tree(&body));
    }
    Ok(())
}

pub async fn health(server: &str) -> anyhow::Result<()> {
    let (status, body) = get_json(server, "/api/v1/health").await?;
    println!("{}", serde_json::to_string_pretty(&body)?);
    if !status.is_success() {
        bail!("semtrace at {server} is unhealthy");
    }
    Ok(())
}

/// `semtrace search`.
#[derive(Debug, Clone, clap::Args)]
pub struct SearchCommand {
    /// What to look for, in words.
    pub query: String,
    /// Results at most (one per trace).
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// Minimum similarity (0–1); the server's default when not given.
    #[arg(long)]
    pub threshold: Option<f32>,
    /// Only spans of this service.
    #[arg(long)]
    pub service: Option<String>,
    /// Only spans with this status: OK, ERROR or UNSET.
    #[arg(long)]
    pub status: Option<String>,
    /// Only spans of this operation (span name).
    #[arg(long)]
    pub operation: Option<String>,
    /// Only spans that failed (`failed`: an error status, an exception or an error log) or not (`ok`).
    #[arg(long)]
    pub outcome: Option<String>,
    /// Only failures filed under this error category, e.g. `database timed out` or `unknown`.
    #[arg(long)]
    pub category: Option<String>,
    /// Only spans of traces that touched this entity, `kind:value`: `user:12345`, `host:db-7`
    /// (needs `features.entity_extraction`).
    #[arg(long)]
    pub entity: Option<String>,
    /// Only spans that took at least this long: `250ms`, `1.5s`, or milliseconds.
    #[arg(long)]
    pub min_duration: Option<String>,
    /// Only spans that took at most this long.
    #[arg(long)]
    pub max_duration: Option<String>,
    /// Only spans starting at or after this time: RFC 3339 or Unix seconds/ms/µs/ns.
    #[arg(long)]
    pub start: Option<String>,
    /// Only spans starting before this time.
    #[arg(long)]
    pub end: Option<String>,
    /// Every matching span instead of the best span per trace.
    #[arg(long)]
    pub spans: bool,
    /// Print the API's JSON.
    #[arg(long)]
    pub json: bool,
    /// Query API of the server.
    #[arg(long, default_value = DEFAULT_SERVER)]
    pub server: String,
}

pub async fn search(args: SearchCommand) -> anyhow::Result<()> {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("q", &args.query).append_pair("limit", &args.limit.to_string());
    if let Some(threshold) = args.threshold {
        query.append_pair("threshold", &threshold.to_string());
    }
    if let Some(service) = &args.service {
        query.append_pair("service", service);
    }
    let filters = [
        ("status", &args.status),
        ("operation", &args.operation),
        ("outcome", &args.outcome),
        ("category", &args.category),
        ("entity", &args.entity),
        ("min_duration", &args.min_duration),
        ("max_duration", &args.max_duration),
        ("start", &args.start),
        ("end", &args.end),
    ];
    for (name, value) in filters {
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    if args.spans {
        query.append_pair("group", "span");
    }
    let (status, body) = get_json(&args.server, &format!("/api/v1/search?{}", query.finish())).await?;
    if !status.is_success() {
        bail!("{}", body["error"].as_str().unwrap_or("the server refused the request"));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        print!("{}", render_search_results(&body));
    }
    Ok(())
}

/// `semtrace similar`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimilarCommand {
    /// Trace id: 32 hex digits.
    pub trace_id: String,
    /// What to compare by: failure, latency or shape (default: failure when the trace failed,
    /// latency when it was slow for its operations, else shape).
    #[arg(long)]
    pub by: Option<String>,
    /// Traces at most.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// Only traces found through a span of this service.
    #[arg(long)]
    pub service: Option<String>,
    /// Print the API's JSON.
    #[arg(long)]
    pub json: bool,
    /// Query API of the server.
    #[arg(long, default_value = DEFAULT_SERVER)]
    pub server: String,
}

pub async fn similar(args: SimilarCommand) -> anyhow::Result<()> {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("limit", &args.limit.to_string());
    if let Some(by) = &args.by {
        query.append_pair("by", by);
    }
    if let Some(service) = &args.service {
        query.append_pair("service", service);
    }
    let path = format!("/api/v1/traces/{}/similar?{}", args.trace_id, query.finish());
    let (status, body) = get_json(&args.server, &path).await?;
    if !status.is_success() {
        bail!("{}", body["error"].as_str().unwrap_or("the server refused the request"));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        print!("{}", render_similar(&body));
    }
    Ok(())
}

/// What was looked for, then one block per trace: score, trace, the matched span, and why.
pub fn render_similar(body: &Value) -> String {
    let mut out = String::new();
    let by = body["by"].as_str().unwrap_or("");
    let telling: Vec<String> = body["telling"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|span| {
            let times =
                span["times_typical"].as_f64().map(|times| format!(", {times:.0}x typical")).unwrap_or_default();
            format!("{}: {}{times}", span["service"].as_str().unwrap_or(""), span["name"].as_str().unwrap_or(""))
        })
        .collect();
    let _ = write!(out, "by {by}");
    if !telling.is_empty() {
        let _ = write!(out, ", looking for {}", telling.join("; "));
    }
    let _ = writeln!(out);
    if let Some(note) = body["note"].as_str() {
        let _ = writeln!(out, "{note}");
    }
    let results = body["results"].as_array().map(Vec::as_slice).unwrap_or_default();
    if results.is_empty() && body["note"].is_null() {
        let _ = writeln!(out, "no similar trace found");
    }
    for result in results {
        let _ = writeln!(
            out,
            "{:.3}  trace {}  {}  {}: {}  {:.1} ms",
            result["score"].as_f64().unwrap_or(0.0),
            result["trace_id"].as_str().unwrap_or(""),
            result["start_time"].as_str().unwrap_or(""),
            result["service"].as_str().unwrap_or(""),
            result["name"].as_str().unwrap_or(""),
            result["duration_ms"].as_f64().unwrap_or(0.0),
        );
        let reason = &result["reason"];
        if let Some(shared) = reason["shared"].as_object() {
            let times = |key: &str| {
                shared.get(key).and_then(Value::as_f64).map(|t| format!(" ({t:.0}x typical)")).unwrap_or_default()
            };
            let _ = writeln!(
                out,
                "       shares the {}: {}{} ~ {}{} (similarity {:.2})",
                shared["kind"].as_str().unwrap_or(""),
                shared["given"].as_str().unwrap_or(""),
                times("given_times_typical"),
                shared["this"].as_str().unwrap_or(""),
                times("this_times_typical"),
                shared["similarity"].as_f64().unwrap_or(0.0),
            );
        }
        if let Some(route) = reason["same_route"].as_str() {
            let _ = writeln!(out, "       same route: {route}");
        }
        for (key, label) in [("only_in_given", "only in the given trace"), ("only_in_this", "only in this trace")] {
            let operations: Vec<&str> = reason[key]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            if !operations.is_empty() {
                let _ = writeln!(out, "       {label}: {}", operations.join(", "));
            }
        }
        if let Some(category) = result["error_category"].as_str() {
            let _ = writeln!(out, "       [{category}]");
        }
        let _ = writeln!(out, "       {}", result["summary"].as_str().unwrap_or(""));
    }
    out
}

pub async fn compare(server: &str, a: &str, b: &str, json: bool) -> anyhow::Result<()> {
    let (status, body) = get_json(server, &format!("/api/v1/traces/{a}/compare/{b}")).await?;
    if !status.is_success() {
        bail!("{}", body["error"].as_str().unwrap_or("the server refused the request"));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        print!("{}", render_comparison(&body));
    }
    Ok(())
}

/// Matched spans by how much their durations differ, then the spans only one trace has.
pub fn render_comparison(body: &Value) -> String {
    let mut out = String::new();
    let span = |span: &Value| {
        format!(
            "{}: {}{}",
            span["service"].as_str().unwrap_or(""),
            span["name"].as_str().unwrap_or(""),
            if span["failed"].as_bool() == Some(true) { " (failed)" } else { "" }
        )
    };
    let list = |key: &str| body[key].as_array().map(Vec::as_slice).unwrap_or_default().to_vec();
    let _ = writeln!(out, "a {}  b {}", body["a"].as_str().unwrap_or(""), body["b"].as_str().unwrap_or(""));
    for pair in list("matched") {
        let (a, b) = (&pair["a"], &pair["b"]);
        let _ = writeln!(
            out,
            "{:>+10.1} ms  {:>9.1} -> {:>9.1} ms  {}{}",
            pair["duration_diff_ms"].as_f64().unwrap_or(0.0),
            a["duration_ms"].as_f64().unwrap_or(0.0),
            b["duration_ms"].as_f64().unwrap_or(0.0),
            span(a),
            if pair["same_template"].as_bool() == Some(true) { String::new() } else { format!("  ≠ {}", span(b)) },
        );
    }
    for (key, label) in [("only_in_a", "only in a"), ("only_in_b", "only in b")] {
        for only in list(key) {
            let _ = writeln!(out, "{label}: {}  {:.1} ms", span(&only), only["duration_ms"].as_f64().unwrap_or(0.0));
        }
    }
    out
}

/// One block per result: similarity, status, service, trace id, time, then the summary.
pub fn render_search_results(body: &Value) -> String {
    let mut out = String::new();
    // How the question was read, when it was read as more than its words.
    let mut reading = Vec::new();
    if body["healthy_only"] == true {
        reading.push("failed traces left out".to_owned());
    }
    if body["unreported_only"] == true {
        reading.push("only failures the request did not report".to_owned());
    }
    let excluded: Vec<&str> =
        body["excluded"].as_array().map(Vec::as_slice).unwrap_or_default().iter().filter_map(Value::as_str).collect();
    if !excluded.is_empty() {
        reading.push(format!("excluding {}", excluded.join(", ")));
    }
    if !reading.is_empty() {
        let intent = body["intent"].as_str().unwrap_or("failure");
        let _ = writeln!(out, "read as a {intent} question, {}", reading.join(", "));
    }
    let results = body["results"].as_array().map(Vec::as_slice).unwrap_or_default();
    if results.is_empty() {
        let _ = writeln!(
            out,
            "no results above similarity {} (try a lower --threshold, or check `semtrace health` for embedding_backlog)",
            body["threshold"]
        );
    }
    for result in results {
        let _ = writeln!(
            out,
            "{:.3}  {:<5}  {}  trace {}  {}  {:.1} ms",
            result["similarity"].as_f64().unwrap_or(0.0),
            result["status"].as_str().unwrap_or(""),
            result["service"].as_str().unwrap_or(""),
            result["trace_id"].as_str().unwrap_or(""),
            result["start_time"].as_str().unwrap_or(""),
            result["duration_ms"].as_f64().unwrap_or(0.0),
        );
        if let Some(category) = result["error_category"].as_str() {
            let _ = writeln!(out, "       [{category}]");
        }
        let _ = writeln!(out, "       {}", result["summary"].as_str().unwrap_or(""));
    }
    out
}

/// Renders a trace (the API's JSON) as an indented span tree with offsets and durations; each
/// span's log records under it, records of spans not stored at the end.
pub fn render_trace_tree(trace: &Value) -> String {
    let spans = trace["spans"].as_array().cloned().unwrap_or_default();
    let ids: Vec<&str> = spans.iter().map(|span| span["span_id"].as_str().unwrap_or("")).collect();
    let mut children: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (idx, span) in spans.iter().enumerate() {
        match span["parent_span_id"].as_str() {
            Some(parent) if ids.contains(&parent) && parent != ids[idx] => {
                children.entry(parent).or_default().push(idx)
            }
            _ => roots.push(idx),
        }
    }
    // Spans in a cycle of parents (A under B under A) reach no root: the first of each is shown
    // as one, so every span is shown.
    let mut reached = vec![false; spans.len()];
    let reach = |start: usize, reached: &mut Vec<bool>| {
        let mut stack = vec![start];
        while let Some(next) = stack.pop() {
            if !std::mem::replace(&mut reached[next], true) {
                stack.extend(children.get(ids[next]).into_iter().flatten().copied());
            }
        }
    };
    for &root in &roots {
        reach(root, &mut reached);
    }
    for idx in 0..spans.len() {
        if !reached[idx] {
            roots.push(idx);
            reach(idx, &mut reached);
        }
    }
    let trace_start: u128 = spans.iter().filter_map(|span| nanos(span, "start_time_unix_nano")).min().unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "trace {}  {}: {}  {:.3} ms  {} spans, {} errors  services: {}",
        trace["trace_id"].as_str().unwrap_or("?"),
        trace["root_service"].as_str().unwrap_or("?"),
        trace["root_name"].as_str().unwrap_or("?"),
        trace["duration_ms"].as_f64().unwrap_or(0.0),
        trace["span_count"].as_u64().unwrap_or(0),
        trace["error_count"].as_u64().unwrap_or(0),
        trace["services"]
            .as_array()
            .map(|services| services.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
            .unwrap_or_default(),
    );
    // Depth-first, children in start order (spans arrive sorted by start time).
    let mut stack: Vec<(usize, usize)> = roots.iter().rev().map(|idx| (*idx, 0)).collect();
    let mut shown = vec![false; spans.len()];
    while let Some((idx, depth)) = stack.pop() {
        if std::mem::replace(&mut shown[idx], true) {
            continue; // a cycle of parents comes back to it
        }
        let span = &spans[idx];
        let offset_ms = nanos(span, "start_time_unix_nano").map_or(0.0, |start| (start - trace_start) as f64 / 1e6);
        let status = match (span["status"].as_str(), span["error_log"].as_str()) {
            (Some("ERROR"), _) => format!("  ERROR {}", span["status_message"].as_str().unwrap_or("")),
            // Failed by what its logs say, whatever its status.
            (_, Some(line)) => format!("  FAILED (logged) {line}"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "{:indent$}+{offset_ms:.3} ms {:>10.3} ms  {}  {} [{}]{status}",
            "",
            span["duration_ms"].as_f64().unwrap_or(0.0),
            span["service"].as_str().unwrap_or("?"),
            span["name"].as_str().unwrap_or("?"),
            span["kind"].as_str().unwrap_or("?"),
            indent = depth * 2,
        );
        for record in span["logs"].as_array().map(Vec::as_slice).unwrap_or_default() {
            render_log(&mut out, record, trace_start, depth * 2 + 4);
        }
        if let Some(kids) = children.get(ids[idx]) {
            stack.extend(kids.iter().rev().map(|kid| (*kid, depth + 1)));
        }
    }
    let orphans = trace["logs"].as_array().map(Vec::as_slice).unwrap_or_default();
    if !orphans.is_empty() {
        let _ = writeln!(out, "log records of spans not stored:");
        for record in orphans {
            render_log(&mut out, record, trace_start, 2);
        }
    }
    out
}

/// One log record: offset from the trace's start, severity, body.
fn render_log(out: &mut String, record: &Value, trace_start: u128, indent: usize) {
    let time =
        nanos(record, "time_unix_nano").filter(|time| *time > 0).or_else(|| nanos(record, "observed_time_unix_nano"));
    let offset_ms = time.map_or(0.0, |time| (time as i128 - trace_start as i128) as f64 / 1e6);
    let severity = match record["severity_text"].as_str().filter(|text| !text.is_empty()) {
        Some(text) => text.to_owned(),
        None => format!("SEV{}", record["severity_number"]),
    };
    let body = match &record["body"] {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let _ = writeln!(out, "{:indent$}log +{offset_ms:.3} ms {severity} {body}", "");
}

fn nanos(span: &Value, field: &str) -> Option<u128> {
    span[field].as_str().and_then(|text| text.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_results_show_their_filed_category() {
        let body = serde_json::json!({ "threshold": 0.15, "results": [
            { "similarity": 0.61, "status": "ERROR", "service": "orders", "trace_id": "ab", "start_time": "t",
              "duration_ms": 30000.0, "summary": "orders span SELECT failed", "error_category": "database timed out" },
            { "similarity": 0.42, "status": "OK", "service": "web", "trace_id": "cd", "start_time": "t",
              "duration_ms": 3.0, "summary": "web span GET /", "error_category": null },
        ]});
        let text = render_search_results(&body);
        assert!(text.starts_with("0.610  ERROR  orders  trace ab"), "nothing read beyond the words: {text}");
        assert_eq!(text.matches('[').count(), 1, "only the failure has a category: {text}");
        assert!(text.contains("       [database timed out]\n       orders span SELECT failed"), "{text}");
    }

    #[test]
    fn search_results_say_how_the_question_was_read() {
        let body = serde_json::json!({ "threshold": 0.15, "intent": "latency", "healthy_only": true,
            "excluded": ["database", "redis"], "results": [] });
        let text = render_search_results(&body);
        assert!(
            text.starts_with("read as a latency question, failed traces left out, excluding database, redis\n"),
            "{text}"
        );
    }

    #[test]
    fn renders_an_indented_tree_with_orphans_as_roots() {
        let trace = serde_json::json!({
            "trace_id": "ab", "root_service": "web", "root_name": "GET /", "duration_ms": 12.5,
            "span_count": 4, "error_count": 1, "services": ["web", "db"],
            "spans": [
                {"span_id": "01", "parent_span_id": null, "name": "GET /", "service": "web", "kind": "SERVER",
                 "start_time_unix_nano": "1000000000", "duration_ms": 12.5, "status": "OK"},
                {"span_id": "02", "parent_span_id": "01", "name": "SELECT", "service": "db", "kind": "CLIENT",
                 "start_time_unix_nano": "1001000000", "duration_ms": 5.0, "status": "ERROR", "status_message": "timeout"},
                {"span_id": "03", "parent_span_id": "02", "name": "connect", "service": "db", "kind": "INTERNAL",
                 "start_time_unix_nano": "1002000000", "duration_ms": 1.0, "status": "UNSET",
                 "error_log": "pool exhausted",
                 "logs": [{"time_unix_nano": "1002500000", "severity_text": "WARN", "severity_number": 13,
                           "body": "pool exhausted"}]},
                {"span_id": "04", "parent_span_id": "99", "name": "late", "service": "web", "kind": "INTERNAL",
                 "start_time_unix_nano": "1003000000", "duration_ms": 0.5, "status": "UNSET"}
            ],
            "logs": [{"time_unix_nano": "0", "observed_time_unix_nano": "1004000000", "severity_text": "",
                      "severity_number": 17, "body": {"event": "lost"}}]
        });
        let expected = "\
trace ab  web: GET /  12.500 ms  4 spans, 1 errors  services: web, db
+0.000 ms     12.500 ms  web  GET / [SERVER]
  +1.000 ms      5.000 ms  db  SELECT [CLIENT]  ERROR timeout
    +2.000 ms      1.000 ms  db  connect [INTERNAL]  FAILED (logged) pool exhausted
        log +2.500 ms WARN pool exhausted
+3.000 ms      0.500 ms  web  late [INTERNAL]
log records of spans not stored:
  log +4.000 ms SEV17 {\"event\":\"lost\"}
";
        assert_eq!(render_trace_tree(&trace), expected);
    }

    /// A span that names itself as parent, and two that name each other, are still shown.
    #[test]
    fn spans_whose_parents_loop_are_shown_as_roots() {
        let span = |id: &str, parent: &str, at: &str| {
            serde_json::json!({"span_id": id, "parent_span_id": parent, "name": format!("op{id}"), "service": "s",
                               "kind": "INTERNAL", "start_time_unix_nano": at, "duration_ms": 1.0, "status": "UNSET"})
        };
        let trace = serde_json::json!({"trace_id": "cd", "root_service": "s", "root_name": "op01", "duration_ms": 1.0,
            "span_count": 3, "error_count": 0, "services": ["s"],
            "spans": [span("01", "01", "1000000000"), span("02", "03", "1001000000"), span("03", "02", "1002000000")]});
        let tree = render_trace_tree(&trace);
        for name in ["op01", "op02", "op03"] {
            assert!(tree.contains(name), "{name} in\n{tree}");
        }
    }
}
