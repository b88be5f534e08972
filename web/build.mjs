// Builds the price page: web/src -> web/dist/{index.html, app.js, app.css}.
//
// app.js is one classic script (an IIFE, not an ES module) so the page also runs from file://
// with everything inlined: the local run's report is dist/index.html with app.css put in a
// <style>, a <script> setting window.CRYPTO_LIVE_SNAPSHOT at the <!-- snapshot --> marker, and
// app.js put in the <script> that loads it. The checks at the end keep that inlining safe.
//
// Usage: node web/build.mjs  (or npm run build:web, which type-checks first; make web)

import { existsSync, readFileSync, rmSync, mkdirSync, writeFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, "src");
const dist = join(here, "dist");
const require = createRequire(import.meta.url);

/** The exact lines of index.html a snapshot writer replaces; each must appear once. */
const CSS_TAG = '<link rel="stylesheet" href="app.css">';
const JS_TAG = '<script src="app.js"></script>';
const SNAPSHOT_MARKER = "<!-- snapshot -->";

function fail(message) {
  console.error(`web/build.mjs: ${message}`);
  // No half-built page: make's target is dist/index.html, written last.
  rmSync(dist, { recursive: true, force: true });
  process.exit(1);
}

/**
 * The attribution notice lightweight-charts' licence asks the page to show. Its NOTICE file when
 * the installed package ships one, else the licence header of its bundle (5.x ships no NOTICE:
 * the header names the product, version and copyright holder), so the footer follows the pin.
 */
function lightweightChartsNotice() {
  const packageDir = dirname(require.resolve("lightweight-charts/package.json"));
  const noticeFile = join(packageDir, "NOTICE");
  let text;
  if (existsSync(noticeFile)) {
    text = readFileSync(noticeFile, "utf8");
  } else {
    const bundle = readFileSync(join(packageDir, "dist", "lightweight-charts.production.mjs"), "utf8");
    const header = /^\/\*!([\s\S]*?)\*\//.exec(bundle);
    if (header === null) {
      fail("lightweight-charts' bundle has no licence header to take the attribution from");
    }
    text = header[1]
      .split("\n")
      .map((line) => line.replace(/^\s*\*\s?/, "").trim())
      .filter((line) => line !== "" && !line.startsWith("@license") && !line.startsWith("Licensed under"))
      .join(". ");
  }
  text = text.replace(/https?:\/\/\S+/g, "").replace(/\s+/g, " ").trim().replace(/[.\s]+$/, "");
  if (!/TradingView/.test(text)) {
    fail(`unexpected lightweight-charts notice: ${JSON.stringify(text)}`);
  }
  return `${text}.`;
}

function escapeHtml(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function once(haystack, needle, where) {
  const count = haystack.split(needle).length - 1;
  if (count !== 1) {
    fail(`${where} must contain ${JSON.stringify(needle)} exactly once (found ${count})`);
  }
}

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

const common = {
  bundle: true,
  minify: true,
  // The licence comments (lightweight-charts' Apache-2.0 header) stay, gathered at the end.
  legalComments: "eof",
  target: "es2020",
  logLevel: "warning",
  absWorkingDir: here,
};

await build({
  ...common,
  entryPoints: [join(src, "main.ts")],
  outfile: join(dist, "app.js"),
  format: "iife",
  platform: "browser",
  sourcemap: false,
});

await build({
  ...common,
  entryPoints: [join(src, "app.css")],
  outfile: join(dist, "app.css"),
});

// Inlining must not end the <script> or <style> early, nor open an HTML comment in a script.
const js = readFileSync(join(dist, "app.js"), "utf8");
const css = readFileSync(join(dist, "app.css"), "utf8");
for (const [name, text, forbidden] of [
  ["app.js", js, /<\/script|<!--|<script/i],
  ["app.css", css, /<\/style/i],
]) {
  const found = forbidden.exec(text);
  if (found !== null) {
    fail(`dist/${name} contains ${JSON.stringify(found[0])}, which would break inlining it`);
  }
}
if (!js.includes("@license")) {
  fail("dist/app.js lost lightweight-charts' licence comment");
}

let html = readFileSync(join(src, "index.html"), "utf8");
once(html, "{{LIGHTWEIGHT_CHARTS_NOTICE}}", "web/src/index.html");
html = html.replace("{{LIGHTWEIGHT_CHARTS_NOTICE}}", escapeHtml(lightweightChartsNotice()));
for (const tag of [CSS_TAG, JS_TAG, SNAPSHOT_MARKER]) {
  once(html, tag, "web/src/index.html");
}
if (html.indexOf(SNAPSHOT_MARKER) > html.indexOf(JS_TAG)) {
  fail("the snapshot marker must come before the app.js script");
}
// Written last: its presence means the whole page was built.
writeFileSync(join(dist, "index.html"), html);

for (const name of ["index.html", "app.js", "app.css"]) {
  console.log(`web/dist/${name}  ${(statSync(join(dist, name)).size / 1024).toFixed(1)} KiB`);
}
