// Runs the SDK as a browser gets it: dist/esm bundled by esbuild for the browser platform, then
// evaluated in a fresh V8 context holding only web globals (fetch, WebCrypto, web streams; no
// process, require or Buffer). Inside, it seals with sealLocally (AES-256-GCM by WebCrypto, and
// ChaCha20-Poly1305 by @noble/ciphers) and makes a call through fetch.
// argv: the SDK directory, the public key JSON, the base URL of a server answering the call.
// Prints {envelope: hex, chacha: hex, created: cifer id, node: whether the SDK thought it ran on Node}.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import vm from 'node:vm';

const [sdkDir, keyJson, baseUrl] = process.argv.slice(2);
const { build } = await import(createRequire(join(sdkDir, 'package.json')).resolve('esbuild'));
const bundled = await build({
  entryPoints: [join(sdkDir, 'dist/esm/index.js')], bundle: true, platform: 'browser', format: 'iife',
  globalName: 'CiferSDK', write: false, logLevel: 'error',
});
const web = {
  fetch, crypto, Headers, Request, Response, URL, URLSearchParams, AbortSignal, AbortController, TextEncoder,
  TextDecoder, ReadableStream, WritableStream, TransformStream, performance, setTimeout, clearTimeout,
  queueMicrotask, console,
};
const context = vm.createContext({ ...web });
vm.runInContext(bundled.outputFiles[0].text, context);
const result = await vm.runInContext(`(async () => {
  const sdk = globalThis.CiferSDK;
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  const key = ${keyJson};
  const envelope = await sdk.sealLocally(key, new TextEncoder().encode('sealed in a browser'), { metadata: { where: 'browser' } });
  const chacha = await sdk.sealLocally({ ...key, aead: 'ChaCha20-Poly1305' }, new TextEncoder().encode('chacha in a browser'));
  const client = new sdk.CiferClient({ baseUrl: ${JSON.stringify(baseUrl)}, apiKey: 'sk_test_browser' });
  const created = await client.cifers.create({ name: 'from a browser' });
  return { envelope: hex(envelope), chacha: hex(chacha), created: created.id, node: typeof process !== 'undefined' };
})()`, context);
process.stdout.write(JSON.stringify(result) + '\n');
