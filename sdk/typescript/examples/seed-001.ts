// Seed 001's two example requests ("Generate User Encryption Key", "Encrypt Sensitive Data"),
// verbatim between the marked lines, typed as the seed's interfaces and sent through
// `client.security`; then the health object is opened again. Not a seed snippet itself: the
// seed gives request bodies, not code. Prints one JSON line with the three answers.
import { CiferClient, type EncryptDataRequest, type GenerateKeyRequest } from '@cifer-io/sdk';

const cifer = new CiferClient(); // $CIFER_API_KEY (an admin key) and $CIFER_PROXY_URL

// --- seed 001, "Generate User Encryption Key", Example Request ---
const generateKeyRequest: GenerateKeyRequest =
{
  "userId": "user_2a3b4c5d",
  "keyType": "health-data",
  "algorithm": "AES-256-GCM",
  "keyUsage": "both",
  "expirationDays": 90,
  "metadata": {
    "purpose": "Encrypt user health metrics and medical information",
    "dataClassification": "restricted",
    "regulatoryRequirement": "HIPAA Security Rule"
  }
}
// --- end of the seed's text ---
;

// --- seed 001, "Encrypt Sensitive Data", Example Request ---
const encryptDataRequest: EncryptDataRequest =
{
  "data": {
    "heartRate": 72,
    "bloodPressure": "120/80",
    "medications": ["Lisinopril 10mg", "Metformin 500mg"]
  },
  "dataType": "health",
  "userId": "user_2a3b4c5d",
  "context": {
    "purpose": "Health monitoring and AI recommendations",
    "retention": "7 years",
    "classification": "restricted"
  },
  "compression": true,
  "additionalAuthenticatedData": "workout_session_12345"
}
// --- end of the seed's text ---
;

const key = await cifer.security.generateKey(generateKeyRequest);
const encrypted = await cifer.security.encrypt(encryptDataRequest);
const decrypted = await cifer.security.decrypt({
  encryptedData: encrypted.encryptedData,
  userId: encryptDataRequest.userId,
  accessPurpose: 'care team review',
  additionalAuthenticatedData: encryptDataRequest.additionalAuthenticatedData,
});
console.log(JSON.stringify({ request: encryptDataRequest, key, encrypted, decrypted }));
