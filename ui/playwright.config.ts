// The UI's browser scenarios, run by crates/server/tests/ui.rs against a loaded server
// (SEMTRACE_URL), in Debian's Chromium: Playwright's own browser download is not used.
import { defineConfig } from "@playwright/test";

const artifacts = process.env.SEMTRACE_ARTIFACTS ?? "../target/ui-artifacts";

export default defineConfig({
  testDir: "tests",
  outputDir: `${artifacts}/results`,
  timeout: 90_000,
  expect: { timeout: 20_000 },
  workers: 1,
  reporter: "list",
  use: {
    baseURL: process.env.SEMTRACE_URL ?? "http://127.0.0.1:16686",
    viewport: { width: 1440, height: 900 },
    screenshot: "only-on-failure",
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
});
