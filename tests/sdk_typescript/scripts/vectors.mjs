// Reproduces a golden vector file (tests/vectors/envelope-v1.json, AES-256-GCM, or
// envelope-v1-chacha20-poly1305.json) with the SDK's envelope code: the same seeds, data keys,
// message ids and KEM ciphertexts (the shared secret is recovered by decapsulating the stored
// ciphertext with the vector's private seed), once through the public function and once with
// each set of AEADs the SDK may use: node:crypto's on Node ("platform"), and WebCrypto's AES-GCM
// with @noble/ciphers' ChaCha20-Poly1305 as browsers have them ("portable").
// Prints {name: {public, platform, portable}} as hex.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const sdkDir = process.env.CIFER_SDK_DIR;
const sdk = await import(join(sdkDir, 'dist/esm/index.js'));
const { sealWith } = await import(join(sdkDir, 'dist/esm/envelope/seal.js'));
const { suiteByName } = await import(join(sdkDir, 'dist/esm/envelope/suites.js'));
const { platformAeads, PORTABLE_AEADS } = await import(join(sdkDir, 'dist/esm/envelope/aead.js'));
const aeads = { platform: await platformAeads(), portable: PORTABLE_AEADS };
const require = createRequire(join(sdkDir, 'package.json'));
const { ml_kem768, ml_kem1024 } = await import(require.resolve('@noble/post-quantum/ml-kem.js'));
const { ml_kem768_x25519 } = await import(require.resolve('@noble/post-quantum/hybrid.js'));

const KEMS = { 'ML-KEM-768': ml_kem768, 'ML-KEM-1024': ml_kem1024, 'X-Wing': ml_kem768_x25519 };
const hex = (s) => Uint8Array.from(Buffer.from(s, 'hex'));
const { vectors } = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const out = {};
for (const v of vectors) {
  const kem = KEMS[v.suite];
  const suite = suiteByName(v.suite, v.aead ?? 'AES-256-GCM');
  const { publicKey, secretKey } = kem.keygen(hex(v.seed));
  const kemCiphertext = hex(v.kem_ciphertext);
  const sharedSecret = kem.decapsulate(kemCiphertext, secretKey);
  const recipient = { ciferId: v.cifer_id, keyVersion: v.key_version, suite, publicKey };
  const randomness = { dataKey: hex(v.data_key), messageId: hex(v.message_id), sharedSecret, kemCiphertext };
  const options = { metadata: v.metadata, chunkSize: v.chunk_size };
  out[v.name] = {
    public: Buffer.from(await sdk.unsafeSealWithRandomness(recipient, hex(v.plaintext), options, randomness)).toString('hex'),
  };
  for (const [which, set] of Object.entries(aeads)) {
    out[v.name][which] = Buffer.from(await sealWith(recipient, hex(v.plaintext), options, randomness, set)).toString('hex');
  }
}
process.stdout.write(JSON.stringify(out));
