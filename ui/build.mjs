// Builds the UI into crates/query/ui, where the server embeds it (include_bytes!): one script,
// one style sheet, one page. The output is committed, so building semtrace needs no Node.
// `node build.mjs --check` builds into a temporary folder instead and fails if the committed
// files are not what the sources build (the test command runs it).
import { build } from "esbuild";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const FILES = ["index.html", "app.js", "app.css"];
const committed = new URL("../crates/query/ui/", import.meta.url).pathname;
const check = process.argv.includes("--check");
const out = check ? mkdtempSync(join(tmpdir(), "semtrace-ui-")) + "/" : committed;
mkdirSync(out, { recursive: true });
await build({
  entryPoints: ["src/main.tsx"],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["chrome110", "firefox110", "safari16"],
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "none",
  outfile: out + "app.js",
  logLevel: "warning",
});
copyFileSync("src/index.html", out + "index.html");
copyFileSync("src/app.css", out + "app.css");

if (check) {
  const stale = FILES.filter((file) => !readFileSync(out + file).equals(readFileSync(committed + file)));
  if (stale.length) {
    console.error(`crates/query/ui is not what ui/src builds (${stale.join(", ")}): run npm run build in ui/ and commit`);
    process.exit(1);
  }
}
