// With auth on (crates/server/tests/ui.rs starts such a server and passes its read token): the
// UI asks for a token the first time the API refuses it, retries with it, and keeps it.
import { expect, test } from "@playwright/test";

const token = process.env.SEMTRACE_TOKEN ?? "";
const traceId = process.env.SEMTRACE_TRACE ?? "";
test.skip(!token || !traceId, "SEMTRACE_TOKEN and SEMTRACE_TRACE are not set: run through crates/server/tests/ui.rs");

test("a refused page asks for a token, retries with it, and remembers it", async ({ page }) => {
  const asked: string[] = [];
  page.on("dialog", async (dialog) => {
    asked.push(dialog.message());
    // A wrong token first: the UI asks again rather than giving up.
    await dialog.accept(asked.length === 1 ? "not-a-token" : token);
  });
  await page.goto(`/trace/${traceId}`);
  await expect(page.getByTestId("span-row").first()).toBeVisible();
  expect(asked.length, asked.join(" | ")).toBeGreaterThanOrEqual(2);
  expect(asked[1]).toContain("refused");
  // With the token kept, the status strip counts, and a reload asks nothing.
  await expect(page.getByTestId("status")).toContainText("spans");
  const before = asked.length;
  await page.reload();
  await expect(page.getByTestId("span-row").first()).toBeVisible();
  expect(asked.length).toBe(before);
});

test("without a token the status strip says data needs one", async ({ page }) => {
  page.on("dialog", (dialog) => dialog.dismiss());
  await page.goto("/");
  await expect(page.getByTestId("status-locked")).toContainText("needs a token");
});
