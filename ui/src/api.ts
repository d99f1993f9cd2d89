// The query API's JSON shapes (crates/query/src/dto.rs, search.rs, overview.rs) and their calls.

export type Attributes = Record<string, unknown>;

export interface TraceBrief {
  span_count: number;
  services: string[];
  duration_ms: number;
  root_service: string | null;
  root_name: string | null;
  failed_count: number;
}

export interface SearchResult {
  trace_id: string;
  span_id: string;
  service: string;
  name: string;
  similarity: number;
  score: number;
  summary: string;
  start_time: string;
  duration_ms: number;
  status: string;
  failed: boolean;
  error_log: string | null;
  error_type: string | null;
  error_categories: string[];
  /** The category the failure is filed under (by its text, or by the model). */
  error_category: string | null;
  trace?: TraceBrief;
}

export interface SearchAnswer {
  query: string;
  intent: string;
  /** The query denied failure ("no errors"): failed traces were left out. */
  healthy_only?: boolean;
  /** The query asked for failures the request did not report: only those were kept. */
  unreported_only?: boolean;
  /** Subjects the query excluded ("…, not database related"). */
  excluded?: string[];
  results: SearchResult[];
}

export interface SimilarResult extends SearchResult {
  telling_similarity: number;
  shape_similarity: number;
  reason: {
    shared: { kind: string; given: string; this: string; similarity: number } | null;
    same_route: string | null;
    only_in_given: string[];
    only_in_this: string[];
  };
}

export interface SimilarAnswer {
  trace_id: string;
  by: string;
  note: string | null;
  results: SimilarResult[];
}

export interface EventDto {
  time: string;
  time_unix_nano: string;
  name: string;
  attributes: Attributes;
}

export interface LinkDto {
  trace_id: string;
  span_id: string;
  attributes: Attributes;
}

export interface LogDto {
  time: string;
  time_unix_nano: string;
  severity_text: string;
  severity_number: number;
  body: unknown;
  attributes: Attributes;
  service: string;
  span_id: string | null;
}

export interface SpanDto {
  span_id: string;
  parent_span_id: string | null;
  name: string;
  service: string;
  kind: string;
  start_time: string;
  start_time_unix_nano: string;
  end_time_unix_nano: string;
  duration_ms: number;
  status: string;
  status_message: string;
  attributes: Attributes;
  resource: Attributes;
  scope: { name: string; version: string };
  events: EventDto[];
  links: LinkDto[];
  failed: boolean;
  error_log: string | null;
  logs: LogDto[];
}

export interface TraceDto {
  trace_id: string;
  root_name: string;
  root_service: string;
  start_time: string;
  duration_ms: number;
  services: string[];
  span_count: number;
  error_count: number;
  failed_count: number;
  spans: SpanDto[];
  logs: LogDto[];
}

export interface ErrorResult {
  trace_id: string;
  span_id: string;
  service: string;
  name: string;
  start_time: string;
  duration_ms: number;
  status: string;
  error_type: string | null;
  error_message: string | null;
  error_log: string | null;
  error_categories: string[];
  error_category: string | null;
}

export interface OverviewGroup {
  service: string;
  category: string;
  spans: number;
  counts: number[];
  newest_time: string;
  newest_trace_id: string;
  example: string;
}

export interface Overview {
  start: string;
  end: string;
  start_unix_nano: string;
  bucket_ms: number;
  buckets: number;
  failed_spans: number;
  categories: { category: string; spans: number; counts: number[] }[];
  groups: OverviewGroup[];
  taxonomy: string[];
}

export interface Health {
  healthy: boolean;
  error?: string | null;
  storage: string;
  total_traces: number;
  total_spans: number;
  templates: number;
  embedding_backlog: number;
  queue_depth: number | null;
  queue_capacity: number | null;
  circuit_breaker: string | null;
  store_reachable: boolean;
  spool_records: number | null;
  version: string;
}

/** An API error, with the server's message. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** Where the browser keeps the bearer token a server with auth on asked for (SECURITY.md). */
const TOKEN_KEY = "semtrace.token";

function storedToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

/** One question at a time, however many requests were refused at once. */
let asking: Promise<string | null> | null = null;

function askForToken(message: string): Promise<string | null> {
  asking ??= Promise.resolve().then(() => {
    const entered = window.prompt(`${message}\n\nPaste a token of role read (semtrace token --role read); this browser keeps it.`);
    asking = null;
    const token = entered?.trim() || null;
    if (token) {
      try {
        localStorage.setItem(TOKEN_KEY, token);
      } catch {
        // Private windows may refuse storage: the token then lasts this page only.
      }
    }
    return token;
  });
  return asking;
}

export async function get<T>(
  path: string,
  params?: URLSearchParams,
  signal?: AbortSignal,
  token: string | null = storedToken(),
): Promise<T> {
  const url = params && [...params.keys()].length ? `${path}?${params}` : path;
  const headers: Record<string, string> = { accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(url, { signal, headers });
  if (response.status === 401) {
    const entered = await askForToken(`semtrace asks for a token: ${token ? "the one given was refused" : "none was given"}.`);
    if (entered && entered !== token) return get<T>(path, params, signal, entered);
  }
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message =
      body && typeof body === "object" && "error" in body ? String((body as { error: unknown }).error) : text;
    throw new ApiError(message || `${response.status} ${response.statusText}`, response.status);
  }
  return body as T;
}

export const api = {
  search: (params: URLSearchParams, signal?: AbortSignal) => get<SearchAnswer>("/api/v1/search", params, signal),
  trace: (id: string, signal?: AbortSignal) => get<TraceDto>(`/api/v1/traces/${encodeURIComponent(id)}`, undefined, signal),
  similar: (id: string, params: URLSearchParams, signal?: AbortSignal) =>
    get<SimilarAnswer>(`/api/v1/traces/${encodeURIComponent(id)}/similar`, params, signal),
  errors: (params: URLSearchParams, signal?: AbortSignal) =>
    get<{ results: ErrorResult[] }>("/api/v1/errors", params, signal),
  overview: (params: URLSearchParams, signal?: AbortSignal) => get<Overview>("/api/v1/errors/overview", params, signal),
  health: () => get<Health>("/api/v1/health"),
  services: () => get<{ services: string[] }>("/api/v1/services"),
  operations: (service: string) =>
    get<{ operations: { name: string; span_kind: string }[] }>(
      `/api/v1/services/${encodeURIComponent(service)}/operations`,
    ),
};
