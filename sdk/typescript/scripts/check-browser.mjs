// Bundles the ESM build for browsers: esbuild fails on any Node-only import (node:*), and the
// output is checked for one too. Run by `npm run check:browser` and tests/sdk_typescript.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const result = await build({
  entryPoints: [join(root, 'dist/esm/index.js')], bundle: true, platform: 'browser', format: 'esm', write: false,
  logLevel: 'error', minify: true,
});
const text = result.outputFiles[0].text;
// The one mention allowed is nodestream.ts's computed import(name), which runs only on Node.
if (/from\s*"node:|require\(|import\("node:/.test(text)) throw new Error('the browser bundle imports Node.js modules');
console.log(JSON.stringify({ browser_bundle_bytes: text.length }));
