// Bundles src/embed.ts, src/count.ts, src/live.ts, src/actions.ts, src/newsletter.ts, src/anchor.ts, src/signin.ts and src/moderate.ts into ../kibitz/static/ (or --outdir DIR):
// minified IIFEs. embed.js loads live.js and anchor.js after its first render, actions.js on the first interaction, signin.js when the reader signs in or is signed in, and signin.js loads moderate.js for a moderator from the site's login.
// `npm run build` writes the committed files; tests/test_widget_build.py rebuilds into a temporary
// directory and compares, so the committed bundles can never be stale.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { dirname, resolve } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));
const at = process.argv.indexOf("--outdir");
const outdir = at > 0 ? resolve(process.argv[at + 1]) : resolve(here, "../kibitz/static");

await build({
  entryPoints: Object.fromEntries(["embed", "count", "live", "actions", "newsletter", "anchor", "signin", "moderate"].map((name) => [name, resolve(here, `src/${name}.ts`)])),
  outdir,
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2020",
  charset: "utf8",
  legalComments: "none",
  logLevel: "warning",
});
