// The waterfall's model without a browser: the span tree, the critical path, collapsed rows.
import { expect, test } from "@playwright/test";
import type { SpanDto, TraceDto } from "../src/api";
import { buildTree, criticalPath, visibleRows } from "../src/tree";

const BASE = 1_765_000_000_000_000_000n;

/** A span from `start` to `end` ms after the trace's start. */
function span(id: string, parent: string | null, start: number, end: number): SpanDto {
  const ns = (ms: number) => (BASE + BigInt(ms) * 1_000_000n).toString();
  return {
    span_id: id,
    parent_span_id: parent,
    name: id,
    service: "svc",
    kind: "INTERNAL",
    start_time: "",
    start_time_unix_nano: ns(start),
    end_time_unix_nano: ns(end),
    duration_ms: end - start,
    status: "UNSET",
    status_message: "",
    attributes: {},
    resource: {},
    scope: { name: "", version: "" },
    events: [],
    links: [],
    failed: false,
    error_log: null,
    logs: [],
  };
}

function trace(spans: SpanDto[]): TraceDto {
  return {
    trace_id: "t",
    root_name: "",
    root_service: "",
    start_time: "",
    duration_ms: 0,
    services: [],
    span_count: spans.length,
    error_count: 0,
    failed_count: 0,
    spans,
    logs: [],
  };
}

const ms = (segments: [number, number][] | undefined) => segments?.map(([a, b]) => [a / 1e6, b / 1e6]);

test("the critical path follows the last-finishing child back from the end", () => {
  // root 0..100: a 10..40, b 20..90 (overlaps a, finishes last), b1 30..80 under b; c 92..95.
  const tree = buildTree(
    trace([
      span("c", "root", 92, 95),
      span("b1", "b", 30, 80),
      span("root", null, 0, 100),
      span("a", "root", 10, 40),
      span("b", "root", 20, 90),
    ]),
  );
  const path = criticalPath(tree);
  expect(ms(path.get("c"))).toEqual([[92, 95]]);
  expect(ms(path.get("b"))).toEqual([[80, 90], [20, 30]]);
  expect(ms(path.get("b1"))).toEqual([[30, 80]]);
  // a ends after b started: only its part before b is on the path.
  expect(ms(path.get("a"))).toEqual([[10, 20]]);
  expect(ms(path.get("root"))?.sort((x, y) => x[0] - y[0])).toEqual([[0, 10], [90, 92], [95, 100]]);
  // Every instant of the root's time is on the path exactly once.
  const covered = [...path.values()].flat().reduce((sum, [a, b]) => sum + (b - a), 0);
  expect(covered / 1e6).toBe(100);
});

test("a child running past its parent and orphans are handled", () => {
  const tree = buildTree(
    trace([span("root", null, 0, 50), span("late", "root", 40, 70), span("orphan", "missing", 5, 10)]),
  );
  expect(tree.roots.map((node) => node.span.span_id)).toEqual(["root", "orphan"]);
  expect(tree.total / 1e6).toBe(70);
  const path = criticalPath(tree);
  expect(ms(path.get("late"))).toEqual([[40, 50]]);
  expect(path.has("orphan")).toBe(true);
});

test("rows are the tree depth first, children by start, collapsed subtrees hidden", () => {
  const tree = buildTree(
    trace([
      span("root", null, 0, 100),
      span("b", "root", 20, 90),
      span("a", "root", 10, 40),
      span("b1", "b", 30, 80),
    ]),
  );
  const ids = (collapsed: string[]) => visibleRows(tree, new Set(collapsed)).map((node) => node.span.span_id);
  expect(ids([])).toEqual(["root", "a", "b", "b1"]);
  expect(ids(["b"])).toEqual(["root", "a", "b"]);
  expect(ids(["root"])).toEqual(["root"]);
  expect(visibleRows(tree, new Set()).map((node) => node.depth)).toEqual([0, 1, 1, 2]);
});

test("10,000 spans in a deep chain build without recursion limits", () => {
  const spans = [span("s0", null, 0, 20_000)];
  for (let i = 1; i < 10_000; i++) spans.push(span(`s${i}`, `s${i - 1}`, i, 20_000 - i));
  const tree = buildTree(trace(spans));
  expect(visibleRows(tree, new Set()).length).toBe(10_000);
  expect(criticalPath(tree).size).toBe(10_000);
});
