import { CiferClient, RateLimitError } from '@cifer-io/sdk';

const cifer = new CiferClient({
    apiKey: 'sk_live_...',
    // Built-in rate limit handling
    rateLimitRetry: {
        maxRetries: 3,
        initialDelay: 1000,
        maxDelay: 30000,
    },
});

// Or handle manually
try {
    await cifer.encrypt(ciferId, data);
} catch (err) {
    if (err instanceof RateLimitError) {
        await sleep(err.retryAfter * 1000);
        // Retry
    }
}

// --- What the seed's snippet leaves to its reader (nothing above this line is changed) ---
declare const ciferId: string;
declare const data: Uint8Array;
declare function sleep(ms: number): Promise<void>;
