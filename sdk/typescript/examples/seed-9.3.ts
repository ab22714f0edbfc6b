import { 
    CiferClient, 
    CiferError,
    AuthenticationError,
    RateLimitError,
    NotFoundError,
    UnauthorizedDecryptError,
} from '@cifer-io/sdk';

try {
    const result = await cifer.decrypt(ciphertext);
} catch (err) {
    if (err instanceof AuthenticationError) {
        // Invalid API key
        console.error('Check your API key');
    } else if (err instanceof UnauthorizedDecryptError) {
        // Not the owner
        console.error(`CIFER ${err.ciferId} belongs to someone else`);
    } else if (err instanceof NotFoundError) {
        // CIFER doesn't exist
        console.error('CIFER not found');
    } else if (err instanceof RateLimitError) {
        // Rate limited
        console.error(`Retry after ${err.retryAfter} seconds`);
    } else if (err instanceof CiferError) {
        // Generic CIFER error
        console.error(`Error ${err.code}: ${err.message}`);
    } else {
        // Network or unexpected error
        throw err;
    }
}

// --- What the seed's snippet leaves to its reader (nothing above this line is changed) ---
declare const cifer: CiferClient;
declare const ciphertext: Uint8Array;
