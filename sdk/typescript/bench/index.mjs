// The TypeScript SDK's benchmark. Prints one JSON object. Run: node sdk/typescript/bench/index.mjs
// (after `npm run build`).
//
// Workload (fixed):
// - seal_locally_mib_s: sealLocally of 1 MiB messages (ML-KEM-768, 64 KiB chunks: one
//   encapsulation, the key schedule, 16 STREAM chunks) for SEAL_S seconds, one at a time.
// - raw_aesgcm_mib_s: one AES-256-GCM encryption of the same 1 MiB (WebCrypto, as sealLocally
//   uses) per message, in the same runtime and run. seal_vs_raw_aesgcm is their ratio; goal >= 0.7.
//   kem_encapsulate_ms (one ML-KEM-768 encapsulation alone) and raw_aesgcm_1mib_ms explain it.
// - seal_locally_chacha_mib_s: the same seal to a ChaCha20-Poly1305 CIFER (suite 0x0101), payload
//   by node:crypto, interleaved with the two above.
// - encrypt_rps: POST /v1/encrypt through the sidecar (JSON, 1 KiB plaintext) from one client with
//   CONCURRENCY calls in flight, for ROUND_S seconds; python_sdk_encrypt_rps the same with the
//   Python SDK (AsyncCiferClient) in its own process; medians of ROUNDS interleaved rounds, and
//   their ratio ts_vs_python_encrypt_rps.
// The server is $CIFER_PROXY_URL with $CIFER_API_KEY if set, else a `cifer dev` this script starts
// (with $CIFER_BENCH_PYTHON, else the repository's .venv/bin/python, else python3) and stops.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..', '..');
const sdk = await import(join(here, '..', 'dist', 'esm', 'index.js'));

const MIB = 1 << 20;
const SEAL_S = 3;
const ROUND_S = 3;
const ROUNDS = 3;
const CONCURRENCY = 16;
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const python = process.env.CIFER_BENCH_PYTHON
  ?? (existsSync(join(repo, '.venv', 'bin', 'python')) ? join(repo, '.venv', 'bin', 'python') : 'python3');

async function timed(seconds, once) {
  const started = performance.now();
  let count = 0;
  while (performance.now() - started < seconds * 1000) {
    await once();
    count += 1;
  }
  return count / ((performance.now() - started) / 1000);
}

const recipientKey = (key) => {
  const der = Buffer.from(key.encapsulationKey, 'base64');
  return der.subarray(der.length - sdk.ML_KEM_768.publicKeyBytes);
};

async function sealBench() {
  // A real ML-KEM-768 public key, made by the Python core, in the API's SubjectPublicKeyInfo form.
  const made = spawnSync(python, ['-c', [
    'import base64', 'from cifer.crypto.suites import ML_KEM_768 as s',
    'print(base64.b64encode(s.public_key_der(s.public_key(s.generate_seed()))).decode())'].join('\n')],
  { cwd: repo, encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`could not make a public key with ${python}: ${made.stderr}`);
  const key = { ciferId: 'cif_benchmark00000001', keyVersion: 1, algorithm: 'ML-KEM-768', encapsulationKey: made.stdout.trim() };
  const message = new Uint8Array(MIB).fill(7);
  const aes = await crypto.subtle.importKey('raw', new Uint8Array(32).fill(1), 'AES-GCM', false, ['encrypt']);
  const iv = new Uint8Array(12);
  for (let i = 0; i < 20; i++) { await sdk.sealLocally(key, message); await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, aes, message); }
  const chachaKey = { ...key, aead: 'ChaCha20-Poly1305' };
  for (let i = 0; i < 20; i++) await sdk.sealLocally(chachaKey, message);
  const seal = [];
  const raw = [];
  const chacha = [];
  for (let round = 0; round < ROUNDS; round++) { // interleaved, so both see the same machine
    seal.push(await timed(SEAL_S / ROUNDS, () => sdk.sealLocally(key, message)));
    raw.push(await timed(SEAL_S / ROUNDS, () => crypto.subtle.encrypt({ name: 'AES-GCM', iv }, aes, message)));
    chacha.push(await timed(SEAL_S / ROUNDS, () => sdk.sealLocally(chachaKey, message)));
  }
  // What one message costs besides AES: the ML-KEM-768 encapsulation, timed alone.
  const encapsulate = await timed(1, () => sdk.ML_KEM_768.encapsulate(recipientKey(key)));
  return { seal: median(seal), raw: median(raw), chacha: median(chacha), encapsulateMs: 1000 / encapsulate };
}

async function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startDev() {
  const key = spawnSync(python, ['-c', 'from cifer import apikeys; print(apikeys.generate_api_key(live=False))'],
    { cwd: repo, encoding: 'utf8' }).stdout.trim();
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'cifer-ts-bench-'));
  const child = spawn(python, ['-m', 'cifer.cli', 'dev', '--port', String(port), '--data-dir', join(dataDir, 'data')],
    { cwd: repo, env: { ...process.env, CIFER_API_KEY: key }, stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/v1/health`)).ok) return { url, key, stop: () => { child.kill('SIGINT'); rmSync(dataDir, { recursive: true, force: true }); } };
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error('cifer dev did not start');
}

async function tsEncryptRps(client, ciferId, plaintext) {
  const started = performance.now();
  let count = 0;
  const worker = async () => {
    while (performance.now() - started < ROUND_S * 1000) {
      await client.encrypt(ciferId, plaintext);
      count += 1;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return count / ((performance.now() - started) / 1000);
}

const PYTHON_ENCRYPT = `
import asyncio, json, os, sys, time
from cifer import AsyncCiferClient
async def main():
    cifer_id, seconds, concurrency = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    async with AsyncCiferClient() as client:
        plaintext = bytes(1024)
        for _ in range(20):
            await client.encrypt(cifer_id, plaintext)
        count = 0
        started = time.perf_counter()
        async def worker():
            nonlocal count
            while time.perf_counter() - started < seconds:
                await client.encrypt(cifer_id, plaintext)
                count += 1
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        print(json.dumps(count / (time.perf_counter() - started)))
asyncio.run(main())
`;

function pythonEncryptRps(env, ciferId) {
  const done = spawnSync(python, ['-c', PYTHON_ENCRYPT, ciferId, String(ROUND_S), String(CONCURRENCY)],
    { cwd: repo, env, encoding: 'utf8' });
  if (done.status !== 0) throw new Error(`the Python SDK round failed: ${done.stderr}`);
  return JSON.parse(done.stdout);
}

async function encryptBench() {
  const server = process.env.CIFER_PROXY_URL && process.env.CIFER_API_KEY
    ? { url: process.env.CIFER_PROXY_URL, key: process.env.CIFER_API_KEY, stop: () => {} } : await startDev();
  try {
    const client = new sdk.CiferClient({ baseUrl: server.url, apiKey: server.key });
    const ciferId = (await client.cifers.create({ name: 'ts-bench' })).id;
    const plaintext = new Uint8Array(1024).fill(1);
    for (let i = 0; i < 50; i++) await client.encrypt(ciferId, plaintext);
    const env = { ...process.env, CIFER_PROXY_URL: server.url, CIFER_API_KEY: server.key };
    const ts = [];
    const py = [];
    for (let round = 0; round < ROUNDS; round++) {
      ts.push(await tsEncryptRps(client, ciferId, plaintext));
      py.push(pythonEncryptRps(env, ciferId));
    }
    return { ts: median(ts), py: median(py) };
  } finally {
    server.stop();
  }
}

const seal = await sealBench();
const encrypt = await encryptBench();
const round = (x, digits = 1) => Number(x.toFixed(digits));
process.stdout.write(JSON.stringify({
  seal_locally_mib_s: round(seal.seal), raw_aesgcm_mib_s: round(seal.raw), seal_vs_raw_aesgcm: round(seal.seal / seal.raw, 3),
  seal_locally_chacha_mib_s: round(seal.chacha), kem_encapsulate_ms: round(seal.encapsulateMs, 3), raw_aesgcm_1mib_ms: round(1000 / seal.raw, 3),
  encrypt_rps: round(encrypt.ts), python_sdk_encrypt_rps: round(encrypt.py),
  ts_vs_python_encrypt_rps: round(encrypt.ts / encrypt.py, 3), concurrency: CONCURRENCY, node: process.version,
}) + '\n');
