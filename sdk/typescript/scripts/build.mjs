// Builds dist/: ESM and type declarations with tsc, CommonJS with esbuild. The CommonJS build
// bundles @noble/* (ESM-only since v2) so that `require('@cifer-io/sdk')` needs no require(esm).
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
rmSync(join(root, 'dist'), { recursive: true, force: true });
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
await build({
  entryPoints: [join(root, 'src/index.ts')], outfile: join(root, 'dist/cjs/index.cjs'), bundle: true, format: 'cjs',
  platform: 'neutral', target: 'es2022', sourcemap: true, logLevel: 'warning', mainFields: ['module', 'main'],
});
writeFileSync(join(root, 'dist/cjs/package.json'), '{"type": "commonjs"}\n');
