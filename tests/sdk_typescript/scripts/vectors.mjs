// Reproduces tests/vectors/envelope-v1.json with the SDK's envelope code: the same seeds, data
// keys, message ids and KEM ciphertexts (the shared secret is recovered by decapsulating the
// stored ciphertext with the vector's private seed), once with each AES-GCM the SDK may use
// (node:crypto on Node, WebCrypto in browsers). Prints {name: {platform, webcrypto}} as hex.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const sdkDir = process.env.CIFER_SDK_DIR;
const sdk = await import(join(sdkDir, 'dist/esm/index.js'));
const { sealWith } = await import(join(sdkDir, 'dist/esm/envelope/seal.js'));
const { platformAead, webCryptoAead } = await import(join(sdkDir, 'dist/esm/envelope/aead.js'));
const aeads = { platform: await platformAead(), webcrypto: webCryptoAead };
const require = createRequire(join(sdkDir, 'package.json'));
const { ml_kem768, ml_kem1024 } = await import(require.resolve('@noble/post-quantum/ml-kem.js'));
const { ml_kem768_x25519 } = await import(require.resolve('@noble/post-quantum/hybrid.js'));

const KEMS = { 'ML-KEM-768': [ml_kem768, sdk.ML_KEM_768], 'ML-KEM-1024': [ml_kem1024, sdk.ML_KEM_1024], 'X-Wing': [ml_kem768_x25519, sdk.X_WING] };
const hex = (s) => Uint8Array.from(Buffer.from(s, 'hex'));
const { vectors } = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const out = {};
for (const v of vectors) {
  const [kem, suite] = KEMS[v.suite];
  const { publicKey, secretKey } = kem.keygen(hex(v.seed));
  const kemCiphertext = hex(v.kem_ciphertext);
  const sharedSecret = kem.decapsulate(kemCiphertext, secretKey);
  const recipient = { ciferId: v.cifer_id, keyVersion: v.key_version, suite, publicKey };
  const randomness = { dataKey: hex(v.data_key), messageId: hex(v.message_id), sharedSecret, kemCiphertext };
  const options = { metadata: v.metadata, chunkSize: v.chunk_size };
  out[v.name] = {
    public: Buffer.from(await sdk.unsafeSealWithRandomness(recipient, hex(v.plaintext), options, randomness)).toString('hex'),
  };
  for (const [which, aead] of Object.entries(aeads)) {
    out[v.name][which] = Buffer.from(await sealWith(recipient, hex(v.plaintext), options, randomness, aead)).toString('hex');
  }
}
process.stdout.write(JSON.stringify(out));
