// Small shared pieces: routing by the History API, formatting, colours, a virtualised list.

import type { ComponentChildren } from "preact";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";

// ------------------------------------------------------------------ routing

export interface Location {
  path: string;
  params: URLSearchParams;
}

function current(): Location {
  return { path: window.location.pathname, params: new URLSearchParams(window.location.search) };
}

const listeners = new Set<() => void>();
window.addEventListener("popstate", () => listeners.forEach((listener) => listener()));

/** Goes to a page of the UI; the address bar keeps the whole state, so it can be shared. */
export function navigate(to: string, replace = false): void {
  if (to === window.location.pathname + window.location.search) return;
  if (replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  listeners.forEach((listener) => listener());
}

export function useLocation(): Location {
  const [location, setLocation] = useState(current);
  useEffect(() => {
    const listener = () => setLocation(current());
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }, []);
  return location;
}

/** A link inside the UI: plain clicks navigate without reloading, others open as links do. */
export function Link(props: { href: string; class?: string; title?: string; children: ComponentChildren }) {
  return (
    <a
      href={props.href}
      class={props.class}
      title={props.title}
      onClick={(event) => {
        if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
        event.preventDefault();
        navigate(props.href);
      }}
    >
      {props.children}
    </a>
  );
}

export function withParams(path: string, params: Record<string, string | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) search.set(key, value);
  const text = search.toString();
  return text ? `${path}?${text}` : path;
}

// ------------------------------------------------------------------ time ranges

export const PRESETS: [string, string, number][] = [
  ["15m", "Last 15 minutes", 15 * 60e3],
  ["1h", "Last hour", 3600e3],
  ["6h", "Last 6 hours", 6 * 3600e3],
  ["24h", "Last 24 hours", 24 * 3600e3],
  ["7d", "Last 7 days", 7 * 24 * 3600e3],
  ["30d", "Last 30 days", 30 * 24 * 3600e3],
  ["all", "All time", 0],
  ["custom", "Custom range", 0],
];

/** The `start`/`end` an API call takes for a range preset (or a custom range as given). */
export function resolveRange(params: URLSearchParams, fallback: string): { start?: string; end?: string } {
  const range = params.get("range") ?? (params.get("start") || params.get("end") ? "custom" : fallback);
  if (range === "custom") {
    const toIso = (text: string | null) => (text ? new Date(text).toISOString() : undefined);
    return { start: toIso(params.get("start")), end: toIso(params.get("end")) };
  }
  const preset = PRESETS.find(([key]) => key === range);
  if (!preset || preset[2] === 0) return {};
  const end = Date.now();
  return { start: new Date(end - preset[2]).toISOString(), end: new Date(end + 60e3).toISOString() };
}

// ------------------------------------------------------------------ formatting

export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return "";
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : Math.round(ms)} ms`;
  if (ms < 60e3) return `${(ms / 1000).toFixed(ms < 10e3 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60e3)} min ${Math.round((ms % 60e3) / 1000)} s`;
}

export function ago(iso: string): string {
  const seconds = (Date.now() - Date.parse(iso)) / 1000;
  if (!Number.isFinite(seconds)) return "";
  if (seconds < 0) return "just now";
  if (seconds < 60) return `${Math.round(seconds)}s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)}h ago`;
  return `${Math.round(seconds / 86400)}d ago`;
}

export function clock(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function count(value: number): string {
  if (value >= 1e9) return `${(value / 1e9).toFixed(1)}G`;
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (value >= 1e4) return `${(value / 1e3).toFixed(1)}K`;
  return String(Math.round(value));
}

/** An attribute value as text: strings as they are, anything else as JSON. */
export function valueText(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** A stable colour per name (services, categories), readable on light and dark backgrounds. */
export function hue(name: string): number {
  let hash = 2166136261;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 16777619);
  return (hash >>> 0) % 360;
}

export function colour(name: string): string {
  return `hsl(${hue(name)} 55% 52%)`;
}

export function ServiceChip(props: { name: string }) {
  return (
    <span class="chip" style={{ "--chip": colour(props.name) }}>
      {props.name}
    </span>
  );
}

export function CopyId(props: { id: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      class="copy"
      title={`Copy ${props.id}`}
      onClick={(event) => {
        event.stopPropagation();
        void navigator.clipboard?.writeText(props.id).then(() => {
          setCopied(true);
          setTimeout(() => setCopied(false), 1200);
        });
      }}
    >
      <code>{props.label ?? props.id}</code>{" "}
      {copied ? (
        "✓"
      ) : (
        <svg class="icon" viewBox="0 0 16 16" aria-hidden="true">
          <rect x="5" y="5" width="9" height="9" rx="1.5" />
          <path d="M11 3.5V3a1 1 0 0 0-1-1H3a1 1 0 0 0-1 1v7a1 1 0 0 0 1 1h.5" />
        </svg>
      )}
    </button>
  );
}

// ------------------------------------------------------------------ virtualised list

/**
 * Renders only the rows in view (and a few around them), so a list of a thousand results or a
 * trace of ten thousand spans stays as fast as a short one. Rows have one fixed height.
 * Arrow keys, j/k, Home/End move the selection; Enter opens it.
 */
export function VirtualList<T>(props: {
  items: T[];
  rowHeight: number;
  height: number | string;
  selected: number;
  onSelect: (index: number) => void;
  onOpen?: (index: number) => void;
  row: (item: T, index: number, selected: boolean) => ComponentChildren;
  label: string;
  class?: string;
}) {
  const { items, rowHeight, selected } = props;
  const box = useRef<HTMLDivElement>(null);
  const [scroll, setScroll] = useState(0);
  const [viewport, setViewport] = useState(600);
  useLayoutEffect(() => {
    const element = box.current;
    if (!element) return;
    const observer = new ResizeObserver(() => setViewport(element.clientHeight));
    observer.observe(element);
    setViewport(element.clientHeight);
    return () => observer.disconnect();
  }, []);
  // Keep the selected row in view.
  useEffect(() => {
    const element = box.current;
    if (!element || selected < 0) return;
    const top = selected * rowHeight;
    if (top < element.scrollTop) element.scrollTop = top;
    else if (top + rowHeight > element.scrollTop + element.clientHeight)
      element.scrollTop = top + rowHeight - element.clientHeight;
  }, [selected, rowHeight]);
  const overscan = 8;
  const first = Math.max(0, Math.floor(scroll / rowHeight) - overscan);
  const last = Math.min(items.length, Math.ceil((scroll + viewport) / rowHeight) + overscan);
  const rows = [];
  for (let index = first; index < last; index++) {
    rows.push(
      <div
        key={index}
        role="option"
        aria-selected={index === selected}
        class={`vrow${index === selected ? " selected" : ""}`}
        style={{ top: `${index * rowHeight}px`, height: `${rowHeight}px` }}
        onClick={() => {
          props.onSelect(index);
          props.onOpen?.(index);
        }}
      >
        {props.row(items[index], index, index === selected)}
      </div>,
    );
  }
  const onKey = (event: KeyboardEvent) => {
    const page = Math.max(1, Math.floor(viewport / rowHeight) - 1);
    const moves: Record<string, number> = {
      ArrowDown: 1,
      j: 1,
      ArrowUp: -1,
      k: -1,
      PageDown: page,
      PageUp: -page,
      Home: -items.length,
      End: items.length,
    };
    if (event.key in moves) {
      event.preventDefault();
      const next = Math.min(items.length - 1, Math.max(0, (selected < 0 ? -1 : selected) + moves[event.key]));
      props.onSelect(next);
    } else if (event.key === "Enter" && selected >= 0 && props.onOpen) {
      event.preventDefault();
      props.onOpen(selected);
    }
  };
  return (
    <div
      ref={box}
      class={`vlist ${props.class ?? ""}`}
      style={{ height: props.height }}
      tabIndex={0}
      role="listbox"
      aria-label={props.label}
      onScroll={(event) => setScroll((event.currentTarget as HTMLDivElement).scrollTop)}
      onKeyDown={onKey}
    >
      <div class="vspace" style={{ height: `${items.length * rowHeight}px` }}>
        {rows}
      </div>
    </div>
  );
}
