// A trace's spans as a tree on a time axis, its critical path, and the rows a waterfall shows.
// No DOM here: the browser-free tests in tests/tree.spec.ts run these as they are.

import type { SpanDto, TraceDto } from "./api";

export interface Node {
  span: SpanDto;
  /** Start and end, in ns from the trace's start. */
  start: number;
  end: number;
  depth: number;
  children: Node[];
}

export interface Tree {
  nodes: Map<string, Node>;
  roots: Node[];
  base: bigint;
  total: number;
}

/** The spans as a tree (spans whose parent is missing become roots), children by start time. */
export function buildTree(trace: TraceDto): Tree {
  const base = trace.spans.reduce(
    (min, span) => (BigInt(span.start_time_unix_nano) < min ? BigInt(span.start_time_unix_nano) : min),
    trace.spans.length ? BigInt(trace.spans[0].start_time_unix_nano) : 0n,
  );
  const nodes = new Map<string, Node>();
  for (const span of trace.spans) {
    const start = Number(BigInt(span.start_time_unix_nano) - base);
    const end = Math.max(start, Number(BigInt(span.end_time_unix_nano) - base));
    nodes.set(span.span_id, { span, start, end, depth: 0, children: [] });
  }
  const roots: Node[] = [];
  for (const node of nodes.values()) {
    const parent = node.span.parent_span_id ? nodes.get(node.span.parent_span_id) : undefined;
    if (parent && parent !== node) parent.children.push(node);
    else roots.push(node);
  }
  const byStart = (a: Node, b: Node) => a.start - b.start || a.end - b.end;
  roots.sort(byStart);
  let total = 1;
  const stack: Node[] = [...roots];
  while (stack.length) {
    const node = stack.pop()!;
    total = Math.max(total, node.end);
    node.children.sort(byStart);
    for (const child of node.children) {
      child.depth = node.depth + 1;
      stack.push(child);
    }
  }
  return { nodes, roots, base, total };
}

/**
 * The critical path: from each root's end backwards, the last-finishing child that started before
 * the cursor, recursively; what no child covers is the span's own time. Returns, per span on the
 * path, the stretches of it that are (ns from the trace's start).
 */
export function criticalPath(tree: Tree): Map<string, [number, number][]> {
  const path = new Map<string, [number, number][]>();
  const add = (node: Node, from: number, to: number) => {
    if (to <= from) return;
    const list = path.get(node.span.span_id) ?? [];
    list.push([from, to]);
    path.set(node.span.span_id, list);
  };
  const stack: [Node, number][] = tree.roots.map((root) => [root, root.end]);
  while (stack.length) {
    const [node, until] = stack.pop()!;
    let cursor = Math.min(node.end, until);
    const children = [...node.children].sort((a, b) => b.end - a.end);
    for (const child of children) {
      if (child.start >= cursor || child.end <= node.start) continue;
      const childEnd = Math.min(child.end, cursor);
      add(node, childEnd, cursor);
      stack.push([child, childEnd]);
      cursor = Math.max(child.start, node.start);
      if (cursor <= node.start) break;
    }
    add(node, node.start, cursor);
    if (!path.has(node.span.span_id)) path.set(node.span.span_id, []);
  }
  return path;
}

/** The rows shown: a depth-first walk that skips collapsed subtrees. */
export function visibleRows(tree: Tree, collapsed: Set<string>): Node[] {
  const rows: Node[] = [];
  const stack: Node[] = [...tree.roots].reverse();
  while (stack.length) {
    const node = stack.pop()!;
    rows.push(node);
    if (collapsed.has(node.span.span_id)) continue;
    for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]);
  }
  return rows;
}

