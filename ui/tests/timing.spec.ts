// How long a person waits in the UI on a loaded store: from Enter in the search box to the
// result list painted, per question, printed as median and percentiles (a measurement, not a
// pass/fail timing test). Run against any server:
//   SEMTRACE_TIMING=1 SEMTRACE_URL=http://127.0.0.1:16686 npx playwright test timing
import { expect, test } from "@playwright/test";

test.skip(!process.env.SEMTRACE_TIMING, "SEMTRACE_TIMING is not set");

const QUESTIONS = [
  "database connection timeout errors",
  "payment declined by the card processor",
  "very slow database queries",
  "requests that ran out of memory",
  "service could not reach its dependency",
  "duplicate key on insert",
  "rate limited by a remote API",
  "authentication token expired",
  "TLS certificate problems",
  "disk full while writing",
];

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

test("time from Enter to the result list on screen", async ({ page }) => {
  const rounds = Number(process.env.SEMTRACE_TIMING_ROUNDS ?? 3);
  const limit = process.env.SEMTRACE_TIMING_LIMIT ?? "100";
  await page.goto(`/search?limit=${limit}`);
  const box = page.getByRole("searchbox", { name: "Search traces by meaning" });
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const question of QUESTIONS) {
      // A new question each time: the same words twice would reuse the query's embedding.
      const words = round === 0 ? question : `${question} (${round})`;
      await box.fill(words);
      await box.press("Enter");
      const count = page.getByTestId("result-count");
      await expect(count).toHaveAttribute("data-ms", /\d/, { timeout: 60_000 });
      times.push(Number(await count.getAttribute("data-ms")));
      await page.goto(`/search?limit=${limit}`);
    }
  }
  const sorted = [...times].sort((a, b) => a - b);
  console.log(
    `Enter → result list on screen, ${times.length} searches (limit ${limit}): ` +
      `p50 ${percentile(sorted, 50).toFixed(0)} ms, p90 ${percentile(sorted, 90).toFixed(0)} ms, ` +
      `p99 ${percentile(sorted, 99).toFixed(0)} ms, max ${sorted[sorted.length - 1].toFixed(0)} ms`,
  );
});

test("time to open a big trace", async ({ page }) => {
  const id = process.env.SEMTRACE_TIMING_TRACE;
  test.skip(!id, "SEMTRACE_TIMING_TRACE (a trace id) is not set");
  const times: number[] = [];
  for (let round = 0; round < 5; round++) {
    const started = Date.now();
    await page.goto(`/trace/${id}`);
    await expect(page.getByTestId("span-row").first()).toBeVisible({ timeout: 60_000 });
    times.push(Date.now() - started);
  }
  const rows = await page.locator(".vspace").first().evaluate((element) => element.getBoundingClientRect().height / 26);
  const sorted = [...times].sort((a, b) => a - b);
  console.log(
    `trace ${id} (${Math.round(rows)} rows): navigation → waterfall interactive p50 ${percentile(sorted, 50)} ms, ` +
      `max ${sorted[sorted.length - 1]} ms over ${times.length} loads`,
  );
});
