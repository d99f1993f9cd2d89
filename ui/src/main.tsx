// semtrace's web UI: pages by address (History API), a status strip from health, light and dark.

import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, type Health } from "./api";
import { ErrorsPage } from "./errors";
import { SearchPage } from "./search";
import { TracePage } from "./trace";
import { count, Link, useLocation } from "./util";

const POLL_MS = 5000;

function StatusStrip() {
  const [health, setHealth] = useState<Health | null>(null);
  const [rate, setRate] = useState<number | null>(null);
  const [down, setDown] = useState<string | null>(null);
  const [locked, setLocked] = useState(false);
  const last = useRef<{ spans: number; at: number } | null>(null);
  useEffect(() => {
    let stopped = false;
    const poll = () => {
      api.health().then(
        (answer) => {
          if (stopped) return;
          // With auth on and no token yet, health says only whether semtrace is up.
          if (typeof answer.total_spans !== "number") {
            setLocked(true);
            setDown(null);
            return;
          }
          setLocked(false);
          const now = performance.now();
          if (last.current) {
            const seconds = (now - last.current.at) / 1000;
            setRate(Math.max(0, (answer.total_spans - last.current.spans) / seconds));
          }
          last.current = { spans: answer.total_spans, at: now };
          setHealth(answer);
          setDown(null);
        },
        (err: Error) => !stopped && setDown(err.message),
      );
    };
    poll();
    const timer = setInterval(poll, POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);
  if (locked)
    return (
      <div class="status" data-testid="status-locked" role="status">
        semtrace is up; its data needs a token of role read
      </div>
    );
  if (!health) return <div class="status">{down ? `Server unreachable: ${down}` : "…"}</div>;
  const breaker = health.circuit_breaker ?? "closed";
  return (
    <div class={`status${health.healthy ? "" : " unhealthy"}`} data-testid="status" role="status">
      <span title="Spans stored per second, over the last few seconds">{rate === null ? "–" : count(rate)} spans/s</span>
      <span>{count(health.total_spans)} spans</span>
      <span>{count(health.total_traces)} traces</span>
      <span title="Templates waiting for their embedding">
        {health.embedding_backlog > 0 ? `${count(health.embedding_backlog)} to embed` : "embeddings current"}
      </span>
      {health.queue_capacity !== null && (
        <span>
          queue {health.queue_depth}/{health.queue_capacity}
        </span>
      )}
      <span class={health.store_reachable ? "" : "bad"}>
        {health.storage} {health.store_reachable ? "up" : "unreachable"}
      </span>
      <span class={breaker === "closed" ? "" : "bad"}>breaker {breaker}</span>
      {health.spool_records ? <span class="bad">{count(health.spool_records)} spooled</span> : null}
    </div>
  );
}

function useTheme(): [string, () => void] {
  const [theme, setTheme] = useState(() => localStorage.getItem("semtrace.theme") ?? "auto");
  useEffect(() => {
    if (theme === "auto") delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = theme;
    localStorage.setItem("semtrace.theme", theme);
  }, [theme]);
  const next = () => setTheme(theme === "auto" ? "dark" : theme === "dark" ? "light" : "auto");
  return [theme, next];
}

function App() {
  const location = useLocation();
  const [theme, nextTheme] = useTheme();
  const trace = location.path.match(/^\/trace\/([0-9a-fA-F]{1,32})\/?$/);
  let page;
  if (trace) page = <TracePage id={trace[1]} location={location} />;
  else if (location.path.startsWith("/errors")) page = <ErrorsPage location={location} />;
  else page = <SearchPage location={location} />;
  useEffect(() => {
    document.title = trace ? `Trace ${trace[1].slice(0, 8)} · semtrace` : location.path.startsWith("/errors") ? "Errors · semtrace" : "semtrace";
  }, [location.path]);
  // "/" focuses the search box from anywhere, as in most tools.
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement;
      if (event.key === "/" && !["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName)) {
        const box = document.querySelector<HTMLInputElement>("input[name=q]");
        if (box) {
          event.preventDefault();
          box.focus();
        }
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  return (
    <>
      <nav class="top">
        <Link href="/" class="brand">
          semtrace
        </Link>
        <Link href="/" class={!trace && !location.path.startsWith("/errors") ? "active" : ""}>
          Search
        </Link>
        <Link href="/errors" class={location.path.startsWith("/errors") ? "active" : ""}>
          Errors
        </Link>
        <StatusStrip />
        <button type="button" class="theme" onClick={nextTheme} title="Colour theme: automatic, dark or light">
          {theme === "auto" ? "◐ auto" : theme === "dark" ? "● dark" : "○ light"}
        </button>
      </nav>
      <main>{page}</main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
