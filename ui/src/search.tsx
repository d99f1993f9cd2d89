// The search page: a question in plain words, filters, and the results, one row per trace (or
// every matching span). Everything the search is lives in the address, so it can be shared.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, type SearchAnswer, type SearchResult } from "./api";
import {
  ago,
  clock,
  duration,
  navigate,
  PRESETS,
  resolveRange,
  ServiceChip,
  VirtualList,
  withParams,
  type Location,
} from "./util";

/** The query-string keys of a search, as the address and the form keep them. */
const KEYS = [
  "q",
  "service",
  "operation",
  "range",
  "start",
  "end",
  "outcome",
  "category",
  "min_duration",
  "max_duration",
  "group",
  "limit",
] as const;
type Form = Record<(typeof KEYS)[number], string>;

function formOf(params: URLSearchParams): Form {
  const form = {} as Form;
  for (const key of KEYS) form[key] = params.get(key) ?? "";
  return form;
}

/** Category names for the filter, from the errors overview's taxonomy (asked for once). */
let taxonomy: Promise<string[]> | null = null;
function categories(): Promise<string[]> {
  taxonomy ??= api
    .overview(new URLSearchParams({ buckets: "1" }))
    .then((overview) => overview.taxonomy)
    .catch(() => []);
  return taxonomy;
}

export function Filters(props: {
  form: Form;
  set: (key: keyof Form, value: string) => void;
  fallbackRange: string;
  only?: (keyof Form)[];
}) {
  const { form, set } = props;
  const shown = (key: keyof Form) => !props.only || props.only.includes(key);
  const [services, setServices] = useState<string[]>([]);
  const [operations, setOperations] = useState<string[]>([]);
  const [taxonomyList, setTaxonomy] = useState<string[]>([]);
  useEffect(() => {
    api.services().then((answer) => setServices(answer.services), () => setServices([]));
    if (shown("category")) void categories().then(setTaxonomy);
  }, []);
  useEffect(() => {
    if (!form.service || !shown("operation")) return setOperations([]);
    api.operations(form.service).then(
      (answer) => setOperations([...new Set(answer.operations.map((operation) => operation.name))].sort()),
      () => setOperations([]),
    );
  }, [form.service]);
  const range = form.range || (form.start || form.end ? "custom" : props.fallbackRange);
  return (
    <div class="filters">
      {shown("service") && (
        <label>
          Service
          <select name="service" aria-label="Service" value={form.service} onChange={(e) => set("service", e.currentTarget.value)}>
            <option value="">All services</option>
            {services.map((service) => (
              <option value={service}>{service}</option>
            ))}
          </select>
        </label>
      )}
      {shown("operation") && (
        <label>
          Operation
          <select
            name="operation" aria-label="Operation"
            value={form.operation}
            disabled={!form.service}
            onChange={(e) => set("operation", e.currentTarget.value)}
          >
            <option value="">{form.service ? "All operations" : "Pick a service"}</option>
            {operations.map((operation) => (
              <option value={operation}>{operation}</option>
            ))}
          </select>
        </label>
      )}
      <label>
        Time
        <select name="range" aria-label="Time" value={range} onChange={(e) => set("range", e.currentTarget.value)}>
          {PRESETS.map(([key, label]) => (
            <option value={key}>{label}</option>
          ))}
        </select>
      </label>
      {range === "custom" && (
        <>
          <label>
            From
            <input
              type="datetime-local"
              name="start" aria-label="From"
              value={form.start}
              onChange={(e) => set("start", e.currentTarget.value)}
            />
          </label>
          <label>
            To
            <input type="datetime-local" name="end" aria-label="To" value={form.end} onChange={(e) => set("end", e.currentTarget.value)} />
          </label>
        </>
      )}
      {shown("outcome") && (
        <label>
          Outcome
          <select name="outcome" aria-label="Outcome" value={form.outcome} onChange={(e) => set("outcome", e.currentTarget.value)}>
            <option value="">Any</option>
            <option value="failed">Failed</option>
            <option value="ok">Succeeded</option>
          </select>
        </label>
      )}
      {shown("category") && (
        <label>
          Error category
          <select name="category" aria-label="Error category" value={form.category} onChange={(e) => set("category", e.currentTarget.value)}>
            <option value="">Any</option>
            {taxonomyList.map((name) => (
              <option value={name}>{name}</option>
            ))}
          </select>
        </label>
      )}
      {shown("min_duration") && (
        <DurationInput name="min_duration" label="Min duration" example="250ms" form={form} set={set} />
      )}
      {shown("max_duration") && (
        <DurationInput name="max_duration" label="Max duration" example="2s" form={form} set={set} />
      )}
    </div>
  );
}

function DurationInput(props: {
  name: "min_duration" | "max_duration";
  label: string;
  example: string;
  form: Form;
  set: (key: keyof Form, value: string) => void;
}) {
  return (
    <label>
      {props.label}
      <input
        name={props.name}
        aria-label={props.label}
        placeholder={`e.g. ${props.example}`}
        size={8}
        value={props.form[props.name]}
        onChange={(e) => props.set(props.name, e.currentTarget.value)}
      />
    </label>
  );
}

/** What a search asks the API, from the page's address. */
function apiParams(form: Form): URLSearchParams {
  const params = new URLSearchParams();
  params.set("q", form.q);
  params.set("limit", form.limit || "100");
  for (const key of ["service", "operation", "outcome", "category", "min_duration", "max_duration"] as const) {
    if (form[key]) params.set(key, form[key]);
  }
  if (form.group === "span") params.set("group", "span");
  const { start, end } = resolveRange(new URLSearchParams(form as Record<string, string>), "all");
  if (start) params.set("start", start);
  if (end) params.set("end", end);
  return params;
}

const EXAMPLES = [
  "database connection timeout errors",
  "payment declined by the card processor",
  "very slow database queries",
  "requests that ran out of memory",
];

/** How the server read the question: its intent, a denied failure, unreported failures, excluded subjects. */
function readingOf(answer: SearchAnswer): string {
  const parts = [`read as a ${answer.intent} question`];
  if (answer.healthy_only) parts.push("failed traces left out");
  if (answer.unreported_only) parts.push("only failures the request did not report");
  if (answer.excluded?.length) parts.push(`excluding ${answer.excluded.join(", ")}`);
  return parts.join(", ");
}

export function SearchPage(props: { location: Location }) {
  const submitted = formOf(props.location.params);
  const [form, setForm] = useState<Form>(submitted);
  const [results, setResults] = useState<SearchResult[] | null>(null);
  const [reading, setReading] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [selected, setSelected] = useState(0);
  const [elapsed, setElapsed] = useState<number | null>(null);
  const asked = useRef(0);
  const input = useRef<HTMLInputElement>(null);
  const key = props.location.params.toString();

  // The address changed (a search, back/forward, a shared link): show it and run it.
  useEffect(() => {
    setForm(submitted);
    if (!submitted.q.trim()) {
      setResults(null);
      setError(null);
      input.current?.focus();
      return;
    }
    const controller = new AbortController();
    const started = performance.now();
    const ask = ++asked.current;
    setLoading(true);
    setError(null);
    api.search(apiParams(submitted), controller.signal).then(
      (answer) => {
        if (ask !== asked.current) return;
        setResults(answer.results);
        setReading(readingOf(answer));
        setSelected(0);
        setLoading(false);
        // Time from the question to the list on screen, once the browser has painted it.
        requestAnimationFrame(() => setElapsed(performance.now() - started));
      },
      (err: Error) => {
        if (controller.signal.aborted) return;
        setError(err.message);
        setResults(null);
        setLoading(false);
      },
    );
    return () => controller.abort();
  }, [key]);

  const submit = (next: Form) => {
    const params: Record<string, string> = {};
    for (const key of KEYS) if (next[key]) params[key] = next[key];
    setElapsed(null);
    navigate(withParams("/search", params));
  };
  const set = (key: keyof Form, value: string) => {
    const next = { ...form, [key]: value };
    if (key === "service") next.operation = "";
    if (key === "range" && value !== "custom") {
      next.start = "";
      next.end = "";
    }
    setForm(next);
    // Filters apply at once to a search already made; the question waits for Enter.
    if (key !== "q" && submitted.q.trim()) submit({ ...next, q: submitted.q });
  };
  const open = (result: SearchResult) => navigate(withParams(`/trace/${result.trace_id}`, { span: result.span_id }));
  const bySpan = submitted.group === "span";

  return (
    <section class="page search">
      <form
        class="ask"
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          submit(form);
        }}
      >
        <input
          ref={input}
          name="q"
          type="search"
          autoFocus
          autocomplete="off"
          placeholder="Describe what happened, e.g. database connection timeout errors"
          aria-label="Search traces by meaning"
          value={form.q}
          onInput={(e) => setForm({ ...form, q: e.currentTarget.value })}
        />
        <button type="submit">Search</button>
      </form>
      <Filters form={form} set={set} fallbackRange="all" />
      <div class="toolbar">
        <div class="segmented" role="group" aria-label="Group results">
          <button
            type="button"
            aria-pressed={!bySpan}
            onClick={() => submit({ ...submitted, group: "" })}
            title="One row per trace: its best matching span"
          >
            By trace
          </button>
          <button
            type="button"
            aria-pressed={bySpan}
            onClick={() => submit({ ...submitted, group: "span" })}
            title="Every matching span"
          >
            Show all matching spans
          </button>
        </div>
        <label class="inline">
          Show
          <select value={submitted.limit || "100"} onChange={(e) => submit({ ...submitted, limit: e.currentTarget.value })}>
            {["20", "100", "1000"].map((n) => (
              <option value={n}>{n}</option>
            ))}
          </select>
        </label>
        {results && (
          <span class="meta" data-testid="result-count" data-ms={elapsed === null ? "" : elapsed.toFixed(1)}>
            {results.length} {bySpan ? "spans" : "traces"}
            {reading && ` · ${reading}`}
            {elapsed !== null && ` · ${Math.round(elapsed)} ms`}
          </span>
        )}
        {loading && <span class="meta">Searching…</span>}
      </div>
      {error && <p class="error-box" role="alert">{error}</p>}
      {!submitted.q.trim() && (
        <div class="empty">
          <p>Describe a failure or a slowdown in your own words; semtrace finds the spans that mean it.</p>
          <ul>
            {EXAMPLES.map((example) => (
              <li>
                <a
                  href={withParams("/search", { q: example })}
                  onClick={(event) => {
                    event.preventDefault();
                    submit({ ...form, q: example });
                  }}
                >
                  {example}
                </a>
              </li>
            ))}
          </ul>
        </div>
      )}
      {results && results.length === 0 && <p class="empty">Nothing close enough. Try other words or a wider time range.</p>}
      {results && results.length > 0 && (
        <>
          <div class="result-head" aria-hidden="true">
            <span>Match</span>
            <span>What happened</span>
            <span>Duration</span>
            <span>When</span>
          </div>
          <VirtualList
            items={results}
            rowHeight={76}
            height="calc(100vh - 300px)"
            selected={selected}
            onSelect={setSelected}
            onOpen={(index) => open(results[index])}
            label="Search results"
            class="results"
            row={(result) => <ResultRow result={result} />}
          />
        </>
      )}
    </section>
  );
}

export function ResultRow(props: { result: SearchResult; similarityLabel?: string }) {
  const { result } = props;
  const trace = result.trace;
  return (
    <div class={`result${result.failed ? " failed" : ""}`} data-testid="result" data-trace-id={result.trace_id}>
      <div class="similarity" title={`similarity ${result.similarity.toFixed(3)}, score ${result.score.toFixed(3)}`}>
        <span>{result.similarity.toFixed(2)}</span>
        <i style={{ width: `${Math.max(0, Math.min(1, result.similarity)) * 100}%` }} />
      </div>
      <div class="what">
        <div class="summary" title={result.summary}>
          {result.summary}
        </div>
        <div class="sub">
          <ServiceChip name={result.service} />
          <span class="op">{result.name}</span>
          {result.error_type && <span class="badge error">{result.error_type}</span>}
          {result.error_category && (
            <span class="badge filed" title="The category this failure is filed under">
              {result.error_category}
            </span>
          )}
          {result.error_categories
            .filter((category) => category !== result.error_category)
            .map((category) => (
              <span class="badge">{category}</span>
            ))}
          {trace && (
            <span class="trace-brief" title={`services: ${trace.services.join(", ")}`}>
              {trace.span_count} spans · {trace.services.slice(0, 3).join(", ")}
              {trace.services.length > 3 && ` +${trace.services.length - 3}`}
              {trace.failed_count > 0 && ` · ${trace.failed_count} failed`}
            </span>
          )}
        </div>
      </div>
      <div class="num">{duration(result.duration_ms)}</div>
      <div class="when" title={clock(result.start_time)}>
        {ago(result.start_time)}
      </div>
    </div>
  );
}
