// Builds dist/logstream.mjs (ES module) and dist/logstream.js (classic script: a global `logstream`),
// minified, and copies both where logstream serves them (producer_api/static). `--tests` instead
// bundles test/*.test.ts for node --test into .test-build/; `--check` fails if the committed copies in
// producer_api/static are not what the sources build to, or if either is over 5 KB gzipped.
import { build } from "esbuild";
import { copyFileSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { gzipSync } from "node:zlib";

const common = { entryPoints: ["src/index.ts"], bundle: true, minify: true, target: "es2019", legalComments: "none" };

if (process.argv.includes("--tests")) {
  rmSync(".test-build", { recursive: true, force: true });
  const tests = readdirSync("test").filter((f) => f.endsWith(".test.ts")).map((f) => `test/${f}`);
  await build({ entryPoints: tests, bundle: true, platform: "node", format: "esm", outdir: ".test-build",
                outExtension: { ".js": ".mjs" }, external: ["node:*"] });
} else if (process.argv.includes("--check")) {
  const built = {
    "logstream.mjs": await build({ ...common, format: "esm", write: false }),
    "logstream.js": await build({ ...common, format: "iife", globalName: "logstream", write: false }),
  };
  for (const [name, result] of Object.entries(built)) {
    const fresh = Buffer.from(result.outputFiles[0].contents);
    const served = readFileSync(`../../producer_api/static/${name}`);
    if (!fresh.equals(served)) throw new Error(`producer_api/static/${name} is stale: run npm run build in clients/js`);
    if (gzipSync(fresh).length > 5 * 1024) throw new Error(`${name} is over 5 KB gzipped`);
  }
  console.log("the served scripts are the sources' build, each under 5 KB gzipped");
} else {
  await build({ ...common, format: "esm", outfile: "dist/logstream.mjs" });
  await build({ ...common, format: "iife", globalName: "logstream", outfile: "dist/logstream.js" });
  for (const name of ["logstream.js", "logstream.mjs"]) {
    copyFileSync(`dist/${name}`, `../../producer_api/static/${name}`);
    const bytes = readFileSync(`dist/${name}`);
    console.log(`${name}: ${bytes.length} bytes, ${gzipSync(bytes).length} gzipped`);
  }
}
