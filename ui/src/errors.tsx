// The errors overview: failed spans by error category over time (a stacked chart), and by
// service and category, newest first, each opening its traces.

import { useEffect, useState } from "preact/hooks";
import { api, type Overview, type OverviewGroup, type SearchResult } from "./api";
import { Filters, ResultRow } from "./search";
import { ago, clock, colour, count, Link, navigate, resolveRange, ServiceChip, withParams, type Location } from "./util";

const SHOWN_CATEGORIES = 8;
const OTHER = "other categories";

function Chart(props: { overview: Overview }) {
  const { overview } = props;
  const shown = overview.categories.slice(0, SHOWN_CATEGORIES);
  const rest = overview.categories.slice(SHOWN_CATEGORIES);
  const series = [...shown];
  if (rest.length) {
    series.push({
      category: OTHER,
      spans: rest.reduce((sum, s) => sum + s.spans, 0),
      counts: overview.categories[0].counts.map((_, i) => rest.reduce((sum, s) => sum + s.counts[i], 0)),
    });
  }
  const buckets = overview.buckets;
  const totals = Array.from({ length: buckets }, (_, i) => series.reduce((sum, s) => sum + s.counts[i], 0));
  const max = Math.max(1, ...totals);
  const width = 1000;
  const height = 220;
  const barWidth = width / buckets;
  const start = Number(BigInt(overview.start_unix_nano) / 1_000_000n);
  const at = (bucket: number) => new Date(start + bucket * overview.bucket_ms);
  const label = (date: Date) => date.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  const bars = [];
  for (let i = 0; i < buckets; i++) {
    let y = height;
    for (const s of series) {
      const value = s.counts[i];
      if (!value) continue;
      const h = (value / max) * (height - 10);
      y -= h;
      bars.push(
        <rect x={i * barWidth + 1} y={y} width={Math.max(1, barWidth - 2)} height={h} fill={colour(s.category)}>
          <title>
            {`${label(at(i))}: ${value} × ${s.category}`}
          </title>
        </rect>,
      );
    }
  }
  return (
    <figure class="chart" data-testid="errors-chart">
      <svg viewBox={`0 0 ${width} ${height + 20}`} preserveAspectRatio="none" role="img" aria-label="Failed spans by category over time">
        <line x1="0" x2={width} y1={height} y2={height} class="axis-line" />
        {bars}
      </svg>
      <div class="chart-axis meta">
        <span>{label(at(0))}</span>
        <span>max {max} per {Math.round(overview.bucket_ms / 60e3)} min</span>
        <span>{label(at(buckets))}</span>
      </div>
      <figcaption class="legend">
        {series.map((s) => (
          <span>
            <i style={{ background: colour(s.category) }} /> {s.category} ({count(s.spans)})
          </span>
        ))}
      </figcaption>
    </figure>
  );
}

function Spark(props: { counts: number[]; category: string }) {
  const max = Math.max(1, ...props.counts);
  const w = 2;
  return (
    <svg class="spark" viewBox={`0 0 ${props.counts.length * w} 20`} preserveAspectRatio="none" aria-hidden="true">
      {props.counts.map((value, i) =>
        value ? <rect x={i * w} y={20 - (value / max) * 20} width={w - 0.4} height={(value / max) * 20} fill={colour(props.category)} /> : null,
      )}
    </svg>
  );
}

/** A group's traces: its failures found by meaning, within its service and category. */
function GroupTraces(props: { group: OverviewGroup; range: { start?: string; end?: string } }) {
  const { group } = props;
  const [results, setResults] = useState<SearchResult[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const params = new URLSearchParams({
      q: group.example,
      service: group.service,
      category: group.category,
      outcome: "failed",
      limit: "20",
    });
    if (props.range.start) params.set("start", props.range.start);
    if (props.range.end) params.set("end", props.range.end);
    api.search(params).then(
      (answer) => setResults(answer.results),
      (err: Error) => setError(err.message),
    );
  }, [group.service, group.category, group.example]);
  return (
    <div class="group-traces">
      <p class="meta">
        Newest: <Link href={`/trace/${group.newest_trace_id}`}>trace {group.newest_trace_id.slice(0, 16)}…</Link> at{" "}
        {clock(group.newest_time)}
      </p>
      {error && <p class="error-box">{error}</p>}
      {results === null && !error && <p class="meta">Loading its traces…</p>}
      {results && (
        <ul class="similar-list">
          {results.map((result) => (
            <li>
              <Link href={withParams(`/trace/${result.trace_id}`, { span: result.span_id })}>
                <ResultRow result={result} />
              </Link>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function ErrorsPage(props: { location: Location }) {
  const params = props.location.params;
  const form = {
    q: "",
    service: params.get("service") ?? "",
    operation: "",
    range: params.get("range") ?? "",
    start: params.get("start") ?? "",
    end: params.get("end") ?? "",
    outcome: "",
    category: "",
    min_duration: "",
    max_duration: "",
    group: "",
    limit: "",
  };
  const open = params.get("open") ?? "";
  const [overview, setOverview] = useState<Overview | null>(null);
  const [error, setError] = useState<string | null>(null);
  const key = params.toString();
  const range = resolveRange(params, "24h");
  useEffect(() => {
    const request = new URLSearchParams({ buckets: "60" });
    if (form.service) request.set("service", form.service);
    if (range.start) request.set("start", range.start);
    if (range.end) request.set("end", range.end);
    const controller = new AbortController();
    setError(null);
    api.overview(request, controller.signal).then(setOverview, (err: Error) => {
      if (!controller.signal.aborted) setError(err.message);
    });
    return () => controller.abort();
  }, [key]);
  const go = (changes: Record<string, string>) => {
    const next: Record<string, string> = {};
    for (const name of ["service", "range", "start", "end", "open"]) {
      const value = name in changes ? changes[name] : params.get(name);
      if (value) next[name] = value;
    }
    navigate(withParams("/errors", next));
  };
  return (
    <section class="page errors">
      <h1>Errors</h1>
      <Filters
        form={form}
        fallbackRange="24h"
        only={["service"]}
        set={(name, value) => go(name === "range" && value !== "custom" ? { range: value, start: "", end: "" } : { [name]: value })}
      />
      {error && <p class="error-box" role="alert">{error}</p>}
      {overview && (
        <>
          <p class="meta" data-testid="errors-total">
            {count(overview.failed_spans)} failed spans from {clock(overview.start)} to {clock(overview.end)}
          </p>
          {overview.failed_spans > 0 ? <Chart overview={overview} /> : <p class="empty">No failed span in this window.</p>}
          <table class="groups" data-testid="error-groups">
            <thead>
              <tr>
                <th>Last seen</th>
                <th>Service</th>
                <th>Category</th>
                <th class="num">Spans</th>
                <th>Over time</th>
                <th>What it says</th>
              </tr>
            </thead>
            <tbody>
              {overview.groups.map((group) => {
                const id = `${group.service}\u0000${group.category}`;
                const expanded = open === id;
                return (
                  <>
                    <tr
                      class={`group${expanded ? " open" : ""}`}
                      tabIndex={0}
                      aria-expanded={expanded}
                      onClick={() => go({ open: expanded ? "" : id })}
                      onKeyDown={(event) => {
                        if (event.key === "Enter" || event.key === " ") {
                          event.preventDefault();
                          go({ open: expanded ? "" : id });
                        }
                      }}
                    >
                      <td title={clock(group.newest_time)}>{ago(group.newest_time)}</td>
                      <td>
                        <ServiceChip name={group.service} />
                      </td>
                      <td>
                        <span class="badge" style={{ borderColor: colour(group.category) }}>
                          {group.category}
                        </span>
                      </td>
                      <td class="num">{count(group.spans)}</td>
                      <td>
                        <Spark counts={group.counts} category={group.category} />
                      </td>
                      <td class="example" title={group.example}>
                        {group.example}
                      </td>
                    </tr>
                    {expanded && (
                      <tr class="expanded">
                        <td colSpan={6}>
                          <GroupTraces group={group} range={range} />
                        </td>
                      </tr>
                    )}
                  </>
                );
              })}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
