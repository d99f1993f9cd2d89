// The trace view: the span tree as a waterfall on a time axis, the critical path drawn over it,
// failures marked; a span's attributes, resource, events, log lines and links beside it; and the
// traces most like this one.

import { useEffect, useMemo, useState } from "preact/hooks";
import { api, type SimilarAnswer, type TraceDto } from "./api";
import { ResultRow } from "./search";
import { buildTree, criticalPath, visibleRows, type Node, type Tree } from "./tree";
import {
  clock,
  colour,
  CopyId,
  duration,
  Link,
  navigate,
  ServiceChip,
  valueText,
  VirtualList,
  withParams,
  type Location,
} from "./util";

export function TracePage(props: { id: string; location: Location }) {
  const { id, location } = props;
  const [trace, setTrace] = useState<TraceDto | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [collapsed, setCollapsed] = useState<Set<string>>(new Set());
  const [similar, setSimilar] = useState<SimilarAnswer | null>(null);
  const [similarError, setSimilarError] = useState<string | null>(null);
  const [loadingSimilar, setLoadingSimilar] = useState(false);
  const spanParam = location.params.get("span");
  const showSimilar = location.params.get("similar") === "1";

  useEffect(() => {
    const controller = new AbortController();
    setTrace(null);
    setError(null);
    setCollapsed(new Set());
    api.trace(id, controller.signal).then(setTrace, (err: Error) => {
      if (!controller.signal.aborted) setError(err.message);
    });
    return () => controller.abort();
  }, [id]);

  useEffect(() => {
    setSimilar(null);
    setSimilarError(null);
    if (!showSimilar) return;
    const controller = new AbortController();
    setLoadingSimilar(true);
    api.similar(id, new URLSearchParams({ limit: "20" }), controller.signal).then(
      (answer) => {
        setSimilar(answer);
        setLoadingSimilar(false);
      },
      (err: Error) => {
        if (controller.signal.aborted) return;
        setSimilarError(err.message);
        setLoadingSimilar(false);
      },
    );
    return () => controller.abort();
  }, [id, showSimilar]);

  const tree = useMemo(() => (trace ? buildTree(trace) : null), [trace]);
  const critical = useMemo(() => (tree ? criticalPath(tree) : new Map<string, [number, number][]>()), [tree]);
  const rows = useMemo(() => (tree ? visibleRows(tree, collapsed) : []), [tree, collapsed]);
  const selectedIndex = Math.max(
    0,
    rows.findIndex((node) => node.span.span_id === spanParam),
  );
  const selectedNode = rows[selectedIndex];

  const select = (index: number) => {
    const node = rows[index];
    if (node) navigate(withParams(`/trace/${id}`, { span: node.span.span_id, similar: showSimilar ? "1" : "" }), true);
  };
  const toggle = (node: Node) => {
    const next = new Set(collapsed);
    if (next.has(node.span.span_id)) next.delete(node.span.span_id);
    else next.add(node.span.span_id);
    setCollapsed(next);
  };

  if (error) return <section class="page"><p class="error-box" role="alert">{error}</p></section>;
  if (!trace || !tree) return <section class="page"><p class="meta">Loading trace {id}…</p></section>;

  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const pct = (ns: number) => `${(ns / tree.total) * 100}%`;
  return (
    <section class="page trace">
      <header class="trace-head">
        <div>
          <h1>
            <ServiceChip name={trace.root_service || trace.spans[0]?.service || "?"} /> {trace.root_name || "(no root span)"}
          </h1>
          <div class="meta">
            {clock(trace.start_time)} · {duration(trace.duration_ms)} · {trace.span_count} spans ·{" "}
            {trace.services.length} services
            {trace.failed_count > 0 && <span class="badge error">{trace.failed_count} failed</span>} · trace{" "}
            <CopyId id={trace.trace_id} />
          </div>
        </div>
        <div class="actions">
          <button
            type="button"
            aria-pressed={showSimilar}
            onClick={() =>
              navigate(withParams(`/trace/${id}`, { span: spanParam, similar: showSimilar ? "" : "1" }))
            }
          >
            {showSimilar ? "Hide similar traces" : "Similar traces"}
          </button>
          <a class="button" href={`/api/v1/traces/${id}`} target="_blank" rel="noreferrer">
            JSON
          </a>
        </div>
      </header>
      {showSimilar && (
        <div class="similar" data-testid="similar">
          <h2>Traces like this one{similar && ` (by ${similar.by})`}</h2>
          {similar?.note && <p class="meta">{similar.note}</p>}
          {loadingSimilar && <p class="meta">Looking for similar traces…</p>}
          {similarError && <p class="error-box">{similarError}</p>}
          {similar && similar.results.length === 0 && <p class="meta">No similar trace is stored.</p>}
          {similar && similar.results.length > 0 && (
            <ul class="similar-list">
              {similar.results.map((result) => (
                <li>
                  <Link href={withParams(`/trace/${result.trace_id}`, { span: result.span_id })}>
                    <ResultRow result={result} />
                  </Link>
                  {result.reason.shared && (
                    <div class="reason meta">
                      Shares: {result.reason.shared.kind} — “{result.reason.shared.this}”
                      {result.reason.same_route && ` · same route ${result.reason.same_route}`}
                    </div>
                  )}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      <div class="split">
        <div
          class="waterfall"
          onKeyDown={(event) => {
            if (!selectedNode) return;
            const open = !collapsed.has(selectedNode.span.span_id);
            if ((event.key === "ArrowLeft" && open) || (event.key === "ArrowRight" && !open)) {
              if (selectedNode.children.length) toggle(selectedNode);
            }
          }}
        >
          <div class="axis" aria-hidden="true">
            <span class="axis-name">Service · operation</span>
            <span class="axis-time">
              {ticks.map((tick) => (
                <i style={{ left: `${tick * 100}%` }}>{duration((tick * tree.total) / 1e6)}</i>
              ))}
            </span>
          </div>
          <VirtualList
            items={rows}
            rowHeight={26}
            height="calc(100vh - 230px)"
            selected={selectedIndex}
            onSelect={select}
            label="Spans"
            class="spans"
            row={(node) => {
              const span = node.span;
              const onPath = critical.get(span.span_id);
              return (
                <div class={`span-row${span.failed ? " failed" : ""}${onPath ? " critical" : ""}`} data-testid="span-row">
                  <div class="span-name" style={{ paddingLeft: `${Math.min(node.depth, 40) * 12 + 4}px` }}>
                    {node.children.length > 0 ? (
                      <button
                        type="button"
                        class="twisty"
                        aria-label={collapsed.has(span.span_id) ? "Expand" : "Collapse"}
                        onClick={(event) => {
                          event.stopPropagation();
                          toggle(node);
                        }}
                      >
                        {collapsed.has(span.span_id) ? "▸" : "▾"}
                      </button>
                    ) : (
                      <span class="twisty" />
                    )}
                    <i class="dot" style={{ background: colour(span.service) }} />
                    <span class="svc">{span.service}</span> <span class="op">{span.name}</span>
                    {span.failed && <span class="flag" title={span.error_log ?? span.status_message}>!</span>}
                  </div>
                  <div class="span-bar">
                    <i
                      class="bar"
                      style={{ left: pct(node.start), width: `max(2px, ${pct(node.end - node.start)})`, background: colour(span.service) }}
                    />
                    {onPath?.map(([from, to]) => (
                      <i class="crit" style={{ left: pct(from), width: `max(1px, ${pct(to - from)})` }} />
                    ))}
                    <span class="bar-label" style={{ left: `min(${pct(node.end)}, calc(100% - 70px))` }}>
                      {duration(span.duration_ms)}
                    </span>
                  </div>
                </div>
              );
            }}
          />
          <p class="legend meta">
            <i class="crit-key" /> critical path · <span class="flag">!</span> failed (error status, exception or error
            log) · ←/→ collapse/expand, ↑/↓ move
          </p>
        </div>
        {selectedNode && <SpanDetail node={selectedNode} tree={tree} traceId={trace.trace_id} />}
      </div>
    </section>
  );
}

function Table(props: { rows: [string, unknown][]; empty: string }) {
  if (!props.rows.length) return <p class="meta">{props.empty}</p>;
  return (
    <table class="kv">
      <tbody>
        {props.rows.map(([key, value]) => (
          <tr>
            <th>{key}</th>
            <td>{valueText(value)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function SpanDetail(props: { node: Node; tree: Tree; traceId: string }) {
  const { node, tree } = props;
  const span = node.span;
  const at = (unixNano: string) => duration(Number(BigInt(unixNano) - tree.base) / 1e6);
  const lines = [
    ...span.events.map((event) => ({
      time: event.time_unix_nano,
      title: event.name,
      severe: event.name === "exception" || /error|fatal|warn/i.test(String(event.attributes["level"] ?? event.attributes["severity"] ?? "")),
      attributes: event.attributes,
      body: null as unknown,
    })),
    ...span.logs.map((log) => ({
      time: log.time_unix_nano,
      title: `${log.severity_text || "LOG"} (log record)`,
      severe: log.severity_number >= 13,
      attributes: log.attributes,
      body: log.body,
    })),
  ].sort((a, b) => (BigInt(a.time) < BigInt(b.time) ? -1 : 1));
  return (
    <aside class="detail" aria-label="Span details" data-testid="span-detail">
      <h2>
        <ServiceChip name={span.service} /> {span.name}
      </h2>
      <dl class="facts">
        <dt>Status</dt>
        <dd class={span.failed ? "bad" : ""}>
          {span.status}
          {span.status_message && ` — ${span.status_message}`}
          {span.failed && span.status !== "ERROR" && " (failed: told by its logs)"}
        </dd>
        {span.error_log && (
          <>
            <dt>Error log</dt>
            <dd class="bad">{span.error_log}</dd>
          </>
        )}
        <dt>Kind</dt>
        <dd>{span.kind}</dd>
        <dt>Duration</dt>
        <dd>
          {duration(span.duration_ms)}, starting at {duration(node.start / 1e6)}
        </dd>
        <dt>Start</dt>
        <dd>{clock(span.start_time)}</dd>
        <dt>Span id</dt>
        <dd>
          <CopyId id={span.span_id} />
        </dd>
        {span.parent_span_id && (
          <>
            <dt>Parent</dt>
            <dd>
              <CopyId id={span.parent_span_id} />
            </dd>
          </>
        )}
        <dt>Trace id</dt>
        <dd>
          <CopyId id={props.traceId} />
        </dd>
        {span.scope.name && (
          <>
            <dt>Scope</dt>
            <dd>
              {span.scope.name} {span.scope.version}
            </dd>
          </>
        )}
      </dl>
      <h3>Attributes</h3>
      <Table rows={Object.entries(span.attributes)} empty="No attributes." />
      <h3>Events and log lines ({lines.length})</h3>
      {lines.length === 0 && <p class="meta">None.</p>}
      <ul class="events">
        {lines.map((line) => (
          <li class={line.severe ? "severe" : ""}>
            <div>
              <b>{line.title}</b> <span class="meta">at {at(line.time)}</span>
            </div>
            {line.body !== null && line.body !== undefined && <pre>{valueText(line.body)}</pre>}
            <Table rows={Object.entries(line.attributes)} empty="" />
          </li>
        ))}
      </ul>
      <h3>Links ({span.links.length})</h3>
      {span.links.length === 0 && <p class="meta">None.</p>}
      <ul class="links">
        {span.links.map((link) => (
          <li>
            <Link href={withParams(`/trace/${link.trace_id}`, { span: link.span_id })}>trace {link.trace_id.slice(0, 12)}…</Link>{" "}
            <CopyId id={link.span_id} />
            <Table rows={Object.entries(link.attributes)} empty="" />
          </li>
        ))}
      </ul>
      <h3>Resource</h3>
      <Table rows={Object.entries(span.resource)} empty="No resource attributes." />
    </aside>
  );
}
