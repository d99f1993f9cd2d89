// Scenarios a person follows in semtrace's UI, on the labelled fault corpus that
// crates/server/tests/ui.rs loads (its scenario file says what to look for).
import { expect, test, type Page } from "@playwright/test";
import { readFileSync } from "node:fs";

interface Scenario {
  query: string;
  fault_traces: string[];
  big_trace: string;
  big_trace_spans: number;
}

// Without a scenario (a timing run against some other server) these scenarios do not apply.
test.skip(!process.env.SEMTRACE_SCENARIO, "SEMTRACE_SCENARIO is not set: run through crates/server/tests/ui.rs");
const scenario: Scenario = process.env.SEMTRACE_SCENARIO
  ? JSON.parse(readFileSync(process.env.SEMTRACE_SCENARIO, "utf8"))
  : { query: "", fault_traces: [], big_trace: "", big_trace_spans: 0 };
const artifacts = process.env.SEMTRACE_ARTIFACTS ?? "../target/ui-artifacts";
const shot = (page: Page, name: string) => page.screenshot({ path: `${artifacts}/${name}.png` });

/** Searches from the box as a person would, and waits for the list. */
async function ask(page: Page, words: string) {
  const box = page.getByRole("searchbox", { name: "Search traces by meaning" });
  await box.fill(words);
  await box.press("Enter");
  await expect(page.getByTestId("result-count")).toHaveAttribute("data-ms", /\d/);
  return Number(await page.getByTestId("result-count").getAttribute("data-ms"));
}

test("find a fault by describing it, open its trace, follow similar traces", async ({ page }) => {
  await page.goto("/");
  await expect(page.getByTestId("status")).toContainText("spans");
  const ms = await ask(page, scenario.query);
  console.log(`first result list on screen ${ms.toFixed(0)} ms after Enter (“${scenario.query}”)`);
  const first = page.getByTestId("result").first();
  await expect(first).toBeVisible();
  const found = await first.getAttribute("data-trace-id");
  expect(scenario.fault_traces, `the first result ${found} carries the fault described`).toContain(found);
  // The address holds the search: it can be shared.
  expect(new URL(page.url()).searchParams.get("q")).toBe(scenario.query);
  await shot(page, "1-search");

  await first.click();
  await expect(page).toHaveURL(new RegExp(`/trace/${found}`));
  await expect(page.getByTestId("span-row").first()).toBeVisible();
  await expect(page.locator(".span-row.failed").first()).toBeVisible();
  await expect(page.locator(".span-row .crit").first()).toBeVisible();
  const detail = page.getByTestId("span-detail");
  await expect(detail).toBeVisible();
  await expect(detail.getByText("Attributes")).toBeVisible();
  await shot(page, "2-trace");

  await page.getByRole("button", { name: "Similar traces" }).click();
  const similar = page.getByTestId("similar");
  await expect(similar.getByTestId("result").first()).toBeVisible();
  const other = await similar.getByTestId("result").first().getAttribute("data-trace-id");
  expect(other).not.toBe(found);
  expect(scenario.fault_traces, "the most similar trace has the same fault").toContain(other);
  await shot(page, "3-similar");
  await similar.getByTestId("result").first().click();
  await expect(page).toHaveURL(new RegExp(`/trace/${other}`));
  await expect(page.getByTestId("span-row").first()).toBeVisible();
});

test("filter by service and time, kept in the address", async ({ page }) => {
  await page.goto("/");
  await ask(page, scenario.query);
  const service = await page.getByTestId("result").first().locator(".chip").first().innerText();
  await page.getByLabel("Service", { exact: true }).selectOption(service);
  await expect(page).toHaveURL(/service=/);
  await page.getByLabel("Time", { exact: true }).selectOption("1h");
  await expect(page).toHaveURL(/range=1h/);
  await expect(page.getByTestId("result-count")).toHaveAttribute("data-ms", /\d/);
  const services = await page.getByTestId("result").locator(".sub .chip").allInnerTexts();
  expect(services.length).toBeGreaterThan(0);
  expect(new Set(services)).toEqual(new Set([service]));
  await shot(page, "4-filtered");

  // A shared address restores the same search and filters.
  const shared = page.url();
  await page.goto("/");
  await page.goto(shared);
  await expect(page.getByLabel("Service", { exact: true })).toHaveValue(service);
  await expect(page.getByLabel("Time", { exact: true })).toHaveValue("1h");
  await expect(page.getByRole("searchbox")).toHaveValue(scenario.query);

  // A window with nothing in it finds nothing.
  await page.getByLabel("Time", { exact: true }).selectOption("custom");
  await page.getByLabel("From", { exact: true }).fill("2001-01-01T00:00");
  await page.getByLabel("To", { exact: true }).fill("2001-01-02T00:00");
  await expect(page.getByText("Nothing close enough")).toBeVisible();
});

test("the errors overview charts categories by service and opens their traces", async ({ page }) => {
  await page.goto("/errors");
  await expect(page.getByTestId("errors-chart")).toBeVisible();
  const groups = page.getByTestId("error-groups").locator("tr.group");
  expect(await groups.count()).toBeGreaterThan(3);
  // Newest first.
  await shot(page, "5-errors");
  const memory = groups.filter({ hasText: "out of memory" }).first();
  await memory.click();
  const traces = page.locator(".group-traces [data-testid=result]");
  await expect(traces.first()).toBeVisible();
  const opened = await traces.first().getAttribute("data-trace-id");
  expect(scenario.fault_traces).toContain(opened);
  await shot(page, "6-errors-open");
  await traces.first().click();
  await expect(page).toHaveURL(new RegExp(`/trace/${opened}`));
});

test("keyboard: search, move through results, open one", async ({ page }) => {
  await page.goto("/");
  await page.keyboard.press("/");
  await page.keyboard.type(scenario.query);
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("result").first()).toBeVisible();
  await page.getByRole("listbox", { name: "Search results" }).focus();
  await page.keyboard.press("ArrowDown");
  const second = await page.locator(".vrow.selected [data-testid=result]").getAttribute("data-trace-id");
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(new RegExp(`/trace/${second}`));
});

test("a trace of 10,000 spans and a list of 1,000 results stay responsive", async ({ page }) => {
  const started = Date.now();
  await page.goto(`/trace/${scenario.big_trace}`);
  await expect(page.getByTestId("span-row").first()).toBeVisible();
  console.log(`trace of ${scenario.big_trace_spans} spans interactive ${Date.now() - started} ms after navigation`);
  // Virtualised: only the rows in view are in the page.
  expect(await page.getByTestId("span-row").count()).toBeLessThan(200);
  await page.getByRole("listbox", { name: "Spans" }).focus();
  const down = Date.now();
  await page.keyboard.press("End");
  await expect(page.locator(".vrow.selected")).toBeVisible();
  console.log(`jump to the last of ${scenario.big_trace_spans} spans: ${Date.now() - down} ms`);
  await shot(page, "7-big-trace");

  await page.goto("/search?q=render+chart+fragment&group=span&limit=1000");
  await expect(page.getByTestId("result-count")).toHaveAttribute("data-ms", /\d/);
  const listed = await page.getByTestId("result-count").innerText();
  console.log(`all matching spans: ${listed}`);
  expect(Number(listed.split(" ")[0])).toBe(1000);
  expect(await page.getByTestId("result").count()).toBeLessThan(200);
  await page.getByRole("listbox", { name: "Search results" }).focus();
  await page.keyboard.press("End");
  await expect(page.locator(".vrow.selected")).toBeVisible();
});

test("dark theme", async ({ page }) => {
  await page.emulateMedia({ colorScheme: "dark" });
  await page.goto(`/search?q=${encodeURIComponent(scenario.query)}`);
  await expect(page.getByTestId("result").first()).toBeVisible();
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  expect(background).toBe("rgb(21, 24, 29)");
  await shot(page, "8-dark");
});
